"""Platform crawlers against local pages that mirror each platform's markup."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "crawl"))

from crawl_helpers import ATOM, PAGES, FixtureServer, Route, crawl_settings, feed, page  # noqa: E402

from llm_engineering.application.crawlers import CrawlContext  # noqa: E402
from llm_engineering.application.crawlers.article import ArticleCrawler  # noqa: E402
from llm_engineering.application.crawlers.naver_blog import NaverBlogCrawler  # noqa: E402
from llm_engineering.application.crawlers.substack import SubstackCrawler  # noqa: E402
from llm_engineering.application.crawlers.tistory import TistoryCrawler  # noqa: E402
from llm_engineering.application.crawlers.velog import VelogCrawler  # noqa: E402
from llm_engineering.application.etl import crawl_links  # noqa: E402
from llm_engineering.domain.documents import ArticleDocument, UserDocument  # noqa: E402
from llm_engineering.infrastructure.browser import SharedBrowser  # noqa: E402
from llm_engineering.infrastructure.http import Fetcher  # noqa: E402


@pytest.fixture(scope="module")
def server():
    routes = {
        "/posts/idempotent-pipelines": page("blog_article.html"),
        "/p/the-quiet-cost-of-context-windows": page("substack_post.html"),
        "/@minji/임베딩-모델을-노트북에서": page("velog_post.html"),
        "/entry/멱등성": page("tistory_post.html"),
        "/seoyeon/223344556677": page("naver_outer.html"),
        "/PostView.naver": page("naver_postview.html"),
        "/atom.xml": feed("blog_atom.xml", content_type=ATOM),
        "/rss/@minji": feed("velog_rss.xml"),
        "/changing": Route(body=(PAGES / "blog_article.html").read_bytes()),
    }
    with FixtureServer(routes) as srv:
        yield srv


@pytest.fixture
def user():
    return UserDocument.get_or_create_by_name("김민지")


@pytest.fixture
def context():
    settings = crawl_settings()
    with Fetcher(settings) as fetcher:
        yield CrawlContext(settings=settings, fetcher=fetcher, browser=SharedBrowser(settings))


def _paragraphs(name: str) -> list[str]:
    """The <p> texts of a fixture page, exactly as written in the file."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((PAGES / name).read_bytes().decode("utf-8"), "lxml")
    return [p.get_text() for p in soup.select("p") if len(p.get_text()) > 30]


def test_generic_article_is_extracted_without_menus_and_footer(server, user):
    link = server.url("/posts/idempotent-pipelines")
    [outcome] = crawl_links(user, [link], settings=crawl_settings(), progress=False)
    assert outcome.status == "ok" and outcome.crawler == "article"
    doc = ArticleDocument.find(link=link)
    assert doc.content["Title"] == "Notes on Idempotent Pipelines"
    assert doc.content["Subtitle"] == "Why every batch job should survive being run twice."
    text = doc.content["Content"]
    assert "An idempotent pipeline is one you can run twice without regret." in text
    assert "- Never generate random ids for stored records." in text
    assert "Why I stopped using cron" not in text and "© 2023" not in text
    assert doc.published_at.isoformat() == "2023-11-02T12:00:00+09:00"
    assert doc.author_full_name == "김민지" and doc.platform == "blog"


def test_substack_post(server, user, context):
    [doc] = SubstackCrawler().crawl(server.url("/p/the-quiet-cost-of-context-windows"), user, context)
    assert doc.platform == "substack"
    assert doc.content["Title"] == "The Quiet Cost of Context Windows"
    assert "Five passages answered best" in doc.content["Content"]
    assert "Subscribe for free" not in doc.content["Content"]


@pytest.mark.parametrize(
    ("crawler", "path", "fixture", "title"),
    [
        (VelogCrawler, "/@minji/임베딩-모델을-노트북에서", "velog_post.html", "임베딩 모델을 노트북에서 돌려 보기"),
        (TistoryCrawler, "/entry/멱등성", "tistory_post.html", "데이터 파이프라인을 다시 실행해도 안전하게 만드는 법"),
    ],
)
def test_korean_text_survives_byte_for_byte(server, user, context, crawler, path, fixture, title):
    [doc] = crawler().crawl(server.url(path), user, context)
    doc.save()
    stored = ArticleDocument.find(link=doc.link)
    assert stored.content["Title"] == title
    for paragraph in _paragraphs(fixture):
        if "민지입니다" in paragraph:  # author bio box, not the post
            continue
        assert paragraph.encode("utf-8") in stored.content["Content"].encode("utf-8"), paragraph
    assert "로그인" not in stored.content["Content"] and "방명록" not in stored.content["Content"]


def test_velog_profile_link_reads_the_authors_feed(server, user, context):
    crawler = VelogCrawler()
    link = server.url("/@minji")
    assert not crawler.already_crawled(link)  # a profile is never "already crawled": new posts appear
    docs = crawler.crawl(link, user, context)
    assert [d.content["Title"] for d in docs] == ["임베딩 모델을 노트북에서 돌려 보기", "재순위화는 왜 필요한가"]
    assert docs[1].content["Content"] == "검색 결과의 순서를 다시 매기면, 같은 모델로도 더 좋은 답을 얻을 수 있습니다."
    assert all(d.platform == "velog" for d in docs)


def test_naver_blog_follows_the_post_frame(server, user, context):
    [doc] = NaverBlogCrawler().crawl(server.url("/seoyeon/223344556677"), user, context)
    assert doc.platform == "naver_blog"
    for paragraph in _paragraphs("naver_postview.html"):
        assert paragraph in doc.content["Content"]
    assert doc.link == server.url("/seoyeon/223344556677")


def test_a_platform_with_its_own_parsing_overrides_extract_and_is_dispatched(server, user, context):
    """The crawler guide's hook: a platform overrides ``extract()`` and gets the fetched page."""
    from llm_engineering.application.crawlers import CrawlerDispatcher
    from llm_engineering.application.crawlers.base import CRAWLERS

    seen = []

    class ExampleSplitCrawler(ArticleCrawler):
        name = "example_split"
        platform = "example_split"
        url_patterns = (r"/posts/idempotent-pipelines$",)

        def extract(self, html, url, link, user, context):
            seen.append(url)
            [article] = super().extract(html, url, link, user, context)
            summary = self.document(
                {"Title": "summary", "Subtitle": None, "Content": "one line"}, link + "/summary", user
            )
            return [article, summary]

    link = server.url("/posts/idempotent-pipelines")
    try:
        docs = CrawlerDispatcher().get_crawler(link).crawl(link, user, context)
    finally:
        CRAWLERS.pop("example_split")
    assert seen == [link]
    assert [d.link for d in docs] == [link, link + "/summary"] and {d.platform for d in docs} == {"example_split"}
    for paragraph in _paragraphs("blog_article.html"):
        assert paragraph in docs[0].content["Content"]


def test_a_feed_link_gives_one_article_per_entry_with_text(server, user):
    link = server.url("/atom.xml")
    [outcome] = crawl_links(user, [link], settings=crawl_settings(), progress=False)
    assert outcome.status == "ok" and outcome.crawler == "feed" and outcome.documents == 2
    korean = ArticleDocument.find(link=server.url("/posts/korean-text"))
    assert korean.content["Content"] == "피드로 받은 한국어 문장도 글자 하나 바뀌지 않고 저장되어야 합니다."
    assert korean.published_at.year == 2024
    # a second run finds every entry stored and writes nothing
    [again] = crawl_links(user, [link], settings=crawl_settings(), progress=False)
    assert again.status == "skipped" and again.skipped_documents == 2 and ArticleDocument.count() == 2


def test_recrawl_skips_unless_forced_and_force_updates_the_same_document(server, user):
    link = server.url("/changing")
    settings = crawl_settings()
    assert crawl_links(user, [link], settings=settings, progress=False)[0].status == "ok"
    first = ArticleDocument.find(link=link)

    new_html = (PAGES / "blog_article.html").read_text("utf-8").replace("twice without regret", "twice, calmly")
    server.routes["/changing"] = Route(body=new_html)
    [skipped] = crawl_links(user, [link], settings=settings, progress=False)
    assert skipped.status == "skipped" and "already in the warehouse" in skipped.reason
    assert ArticleDocument.find(link=link).content == first.content

    [forced] = crawl_links(user, [link], force=True, settings=settings, progress=False)
    assert forced.status == "ok"
    assert ArticleDocument.count() == 1
    updated = ArticleDocument.find(link=link)
    assert updated.id == first.id
    assert "twice, calmly" in updated.content["Content"]
    assert updated.content_hash != first.content_hash


def test_links_are_crawled_concurrently_in_a_bounded_pool(server, user):
    links = [
        server.url(p)
        for p in (
            "/posts/idempotent-pipelines",
            "/p/the-quiet-cost-of-context-windows",
            "/entry/멱등성",
            "/@minji/임베딩-모델을-노트북에서",
        )
    ]
    outcomes = crawl_links(user, links, max_workers=2, settings=crawl_settings(), progress=False)
    assert [o.link for o in outcomes] == links
    assert all(o.status == "ok" for o in outcomes), [o.reason for o in outcomes]
    assert ArticleDocument.count() == 4
