"""Every bad input becomes a recorded failure with a reason: no crash, nothing written."""

from __future__ import annotations

import gzip
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "crawl"))

from crawl_helpers import HTML, PAGES, FixtureServer, Route, crawl_settings, page  # noqa: E402

from llm_engineering.application.etl import crawl_links  # noqa: E402
from llm_engineering.domain.documents import ArticleDocument, UserDocument  # noqa: E402

KOREAN_TEXT = (
    "오래된 한국어 블로그는 아직도 EUC-KR로 글을 내보내는 경우가 있습니다. 선언된 문자 집합대로 읽어야 합니다."
)
KOREAN_NOT_UTF8 = f"<html><body><article><p>{KOREAN_TEXT}</p></article></body></html>".encode("euc-kr")


def _redirect(to: str):
    return lambda handler: (302, HTML, b"", {"Location": to})


@pytest.fixture(scope="module")
def server():
    routes = {
        "/article": page("blog_article.html"),
        "/missing": Route(status=404),
        "/flaky": page("blog_article.html", first_statuses=[500]),
        "/always-500": Route(status=503),
        "/slow": page("blog_article.html", delay_s=3.0),
        "/loop-a": _redirect("/loop-b"),
        "/loop-b": _redirect("/loop-a"),
        "/redirect-to-article": _redirect("/article"),
        "/paper.pdf": Route(body=b"%PDF-1.7 fake", content_type="application/pdf"),
        "/gzip": Route(
            body=gzip.compress((PAGES / "blog_article.html").read_bytes()), headers={"Content-Encoding": "gzip"}
        ),
        "/gzip-bomb": Route(
            body=gzip.compress(b"<html><body>" + b"<p>a</p>" * 500_000), headers={"Content-Encoding": "gzip"}
        ),
        "/huge": Route(body=b"<html><body>" + b"<p>word </p>" * 3000 + b"</body></html>"),
        "/not-utf8": Route(body=KOREAN_NOT_UTF8, content_type="text/html"),
        "/euc-kr": Route(body=KOREAN_NOT_UTF8, content_type="text/html; charset=euc-kr"),
        "/empty": page("empty_article.html"),
        "/bot-check": page("medium_botcheck.html"),
    }
    with FixtureServer(routes) as srv:
        yield srv


@pytest.fixture
def user():
    return UserDocument.get_or_create_by_name("Dana Kim")


def _crawl(user, links, **settings):
    return crawl_links(user, links, settings=crawl_settings(**settings), progress=False)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/missing", "HTTP 404"),
        ("/always-500", "HTTP 503"),
        ("/loop-a", "redirect loop"),
        ("/paper.pdf", "unsupported content type application/pdf"),
        ("/not-utf8", "not valid utf-8"),
        ("/empty", "empty article"),
        ("/bot-check", "bot-check page"),
    ],
)
def test_bad_pages_fail_with_a_reason_and_write_nothing(server, user, path, reason):
    [outcome] = _crawl(user, [server.url(path)])
    assert outcome.status == "failed"
    assert reason in outcome.reason
    assert ArticleDocument.count() == 0


def test_a_page_over_the_size_cap_is_refused(server, user):
    [outcome] = _crawl(user, [server.url("/huge")], CRAWL_MAX_BYTES=20_000)
    assert outcome.status == "failed" and "page too large" in outcome.reason
    assert ArticleDocument.count() == 0
    [outcome] = _crawl(user, [server.url("/huge")], CRAWL_MAX_BYTES=1_000_000)
    assert outcome.status == "ok"


def test_compressed_pages_are_decoded_and_capped_after_decompression(server, user):
    [outcome] = _crawl(user, [server.url("/gzip")])
    assert outcome.status == "ok", outcome.reason
    [bomb] = _crawl(user, [server.url("/gzip-bomb")], CRAWL_MAX_BYTES=200_000)
    assert bomb.status == "failed" and "too large once decompressed" in bomb.reason
    assert ArticleDocument.count() == 1


def test_a_transient_500_is_retried_until_it_succeeds(server, user):
    server.routes["/flaky"].hits = 0
    [outcome] = _crawl(user, [server.url("/flaky")])
    assert outcome.status == "ok", outcome.reason
    assert server.routes["/flaky"].hits == 2
    assert ArticleDocument.count() == 1


def test_a_server_error_is_given_up_after_the_configured_attempts(server, user):
    server.routes["/always-500"].hits = 0
    [outcome] = _crawl(user, [server.url("/always-500")], CRAWL_RETRIES=2)
    assert outcome.status == "failed"
    assert server.routes["/always-500"].hits == 2


def test_a_timeout_fails_after_retries_within_bounded_time(server, user):
    started = time.perf_counter()
    [outcome] = _crawl(user, [server.url("/slow")], CRAWL_TIMEOUT_S=0.3, CRAWL_RETRIES=2)
    assert outcome.status == "failed" and "timed out" in outcome.reason
    assert time.perf_counter() - started < 2.5
    assert ArticleDocument.count() == 0


def test_redirects_are_followed_and_stored_under_the_requested_link(server, user):
    [outcome] = _crawl(user, [server.url("/redirect-to-article")])
    assert outcome.status == "ok"
    assert ArticleDocument.find(link=server.url("/redirect-to-article")) is not None


def test_a_declared_korean_charset_is_decoded(server, user):
    [outcome] = _crawl(user, [server.url("/euc-kr")])
    assert outcome.status == "ok", outcome.reason
    [doc] = ArticleDocument.bulk_find()
    assert KOREAN_TEXT in doc.content["Content"]


def test_loopback_is_refused_unless_the_setting_allows_it(server, user):
    [outcome] = _crawl(user, [server.url("/article")], CRAWL_ALLOWED_NETWORKS="")
    assert outcome.status == "failed" and "non-public address 127.0.0.1" in outcome.reason
    assert ArticleDocument.count() == 0


def test_one_bad_link_does_not_stop_the_batch(server, user):
    links = ["not a url", "ftp://example.org/x", server.url("/missing"), server.url("/article"), server.url("/article")]
    outcomes = _crawl(user, links)
    assert [o.status for o in outcomes] == ["failed", "failed", "failed", "ok", "skipped"]
    assert "malformed URL" in outcomes[0].reason
    assert "unsupported scheme ftp:" in outcomes[1].reason
    assert outcomes[4].reason == "duplicate in the list"
    assert ArticleDocument.count() == 1
