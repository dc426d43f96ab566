"""Cleaning keeps the writing (any script, paragraphs, code) and drops page chrome."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_engineering.application.preprocessing.cleaning import (
    clean_code,
    clean_document,
    clean_prose,
    letters_and_digits_kept,
)
from llm_engineering.domain.cleaned_documents import cleaned_class
from llm_engineering.domain.documents import ArticleDocument, PostDocument, RepositoryDocument

# A page as a blog crawler leaves it: a site menu, breadcrumbs, a sidebar of links separated by
# rules, a share box that repeats, then the article, then a comments footer.
BLOG_PAGE = """Jane Writer

  * __Blog
  * __Talks
  * __About

  * __
  * __

__

  1. 📚 **Retrieval**
  2. Chunking for search

  1. 📚 **Retrieval**
  2. Chunking for search

# Chunking for search

  * 📚 **Retrieval** __

    * Chunking for search

    * Hybrid ranking

  * * * *

  * 🧪 **Evaluation** __

    * Offline metrics

Share this post

Copy link

Facebook

Email

Note

Other

Splitting   documents into   passages is the first step.\u00a0Each passage\u200b is embedded.

A second paragraph explains  why overlap helps.

Share this post

Copy link

Facebook

#### Discussion about this post

Comments

Restacks

This site requires JavaScript to run correctly. Please turn on JavaScript or
unblock scripts
"""


def test_site_chrome_is_removed_from_a_web_page_and_the_article_kept():
    cleaned = clean_prose(BLOG_PAGE, web_page=True)
    assert "Splitting documents into passages is the first step. Each passage is embedded." in cleaned
    assert "A second paragraph explains why overlap helps." in cleaned
    assert "# Chunking for search" in cleaned
    for chrome in ("__Blog", "Share this post", "Copy link", "Facebook", "Hybrid ranking", "* * * *", "Restacks",
                   "Discussion about this post", "JavaScript", "Offline metrics"):  # fmt: skip
        assert chrome not in cleaned, chrome
    # The breadcrumb trail is a plain list that repeats: repetition inside a page is no proof of
    # chrome, so both copies stay.
    assert cleaned.count("Chunking for search") == 3


def test_the_same_text_outside_a_web_page_loses_no_line():
    cleaned = clean_prose(BLOG_PAGE)
    for line in BLOG_PAGE.splitlines():
        words = " ".join(line.replace("\u200b", "").split())
        assert words in " ".join(cleaned.split()), line


def test_paragraph_breaks_survive_and_whitespace_is_normalised():
    cleaned = clean_prose("First  line\twith   gaps.\r\n\r\n\r\n\r\nSecond paragraph.   \n")
    assert cleaned == "First line with gaps.\n\nSecond paragraph."


@pytest.mark.parametrize(
    "text",
    [
        "한국어 문장은 그대로 남아야 합니다. ㅋㅋㅋ 정말요?",
        "日本語の文章もそのまま残ります。中文也一样。",
        "Crème brûlée, naïve façade, Ångström — São Paulo.",
        "Emoji stay too: 🚀🔥 and ✅.",
    ],
)
def test_text_in_any_script_survives(text):
    assert clean_prose(text) == text


def test_decomposed_hangul_is_composed_and_styled_letters_folded():
    decomposed = "\u1112\u1161\u11ab\u1100\u1173\u11af"  # 한글 as conjoining jamo (NFD)
    assert clean_prose(decomposed) == "한글"
    assert clean_prose("Step 𝟭: use 𝐛𝐨𝐥𝐝 ＡＢＣ") == "Step 1: use bold ABC"


def test_code_blocks_inside_prose_are_kept_verbatim():
    text = "Intro   text.\n\n```python\ndef f(x):\n    if x:\n        return  x  *  2\n\n\n    return 0\n```\n\nAfter."
    cleaned = clean_prose(text)
    assert "```python\ndef f(x):\n    if x:\n        return  x  *  2\n\n\n    return 0\n```" in cleaned
    assert cleaned.startswith("Intro text.")


def test_code_keeps_indentation_and_inner_spacing():
    code = "def main():\r\n\tprint('안녕')  \r\n    x  =  [1,   2]\n"
    assert clean_code(code) == "def main():\n\tprint('안녕')\n    x  =  [1,   2]"


def _author():
    return {"author_id": uuid.uuid4(), "author_full_name": "김민준"}


def test_article_document_is_cleaned_into_its_category_class():
    article = ArticleDocument(
        content={"Title": "  제목   하나 ", "Subtitle": "부제", "Content": "본문  입니다.\n\n\n둘째 문단."},
        platform="blog",
        link="https://example.org/a",
        **_author(),
    )
    cleaned = clean_document(article)
    assert isinstance(cleaned, cleaned_class("articles"))
    assert cleaned.id == cleaned.document_id == article.id
    assert cleaned.title == "제목 하나"
    assert cleaned.content == "부제\n\n본문 입니다.\n\n둘째 문단."
    assert cleaned.content_hash == article.content_hash
    assert cleaned.category == "articles"


def test_post_without_known_keys_uses_its_text_fields():
    post = PostDocument(content={"text": "A  post\u200b body."}, platform="linkedin", **_author())
    assert clean_document(post).content == "A post body."


def test_repository_files_become_fenced_sections_in_path_order():
    repo = RepositoryDocument(
        name="tools",
        link="https://github.com/someone/tools",
        platform="github",
        content={"src/b.py": "def b():\n    return 2\n", "README.md": "# Tools\n\nUse   them.", "empty.txt": "  \n"},
        **_author(),
    )
    cleaned = clean_document(repo)
    assert isinstance(cleaned, cleaned_class("repositories"))
    assert cleaned.title == "tools"
    assert cleaned.content == (
        "## README.md\n\n```\n# Tools\n\nUse   them.\n```\n\n## src/b.py\n\n```\ndef b():\n    return 2\n```"
    )


# ---- nothing the author wrote is deleted ------------------------------------------------------
# A note as people write them: a table whose figures repeat, sentence tails on their own lines,
# markers, a numbered definition, a title that comes back, one-letter variables in both cases,
# and chat-template tokens in an example that is indented, not fenced.
MARKDOWN_NOTE = """# 예산 메모

예산 메모

| 항목 | 2025 | 2026 |
|---|---|---|
| 인건비 | 34,712 | 34,712 |
| 운영비 | 34,712 | 34,712 |
| 시설비 | 34,712 | 34,712 |
| 예비비 | 34,712 | 34,712 |
| 합계 | 34,712 | 34,712 |

위 금액은 확정된 것으로
한다.

같은 표를 내보낸 파일은 칸마다 한 줄이다:

인건비
34,712
운영비
34,712
시설비
34,712
예비비
34,712
합계
34,712

남은 금액은 다음 해로 넘기는 것으로
한다.

필요하면 조정할
수 있다.

‹신 설>
1. "이용자"란 도서관 회원증을 받은 사람을 말한다.
‹신 설>

Share
x
X
x

* * *

    <|im_start|>user
    안녕?<|im_end|>
    <|im_start|>assistant
    안녕하세요!<|im_end|>

예산 메모
"""


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("web_page", [False, True])
def test_short_and_repeated_lines_of_a_note_all_survive(web_page):
    cleaned = clean_prose(MARKDOWN_NOTE, web_page=web_page)
    kept = " ".join(cleaned.split())
    assert cleaned.count("34,712") == 15
    assert cleaned.split("\n").count("한다.") == 2
    assert cleaned.count("예산 메모") == 3
    assert cleaned.count("‹신 설>") == 2
    assert cleaned.count("<|im_start|>") == 2 and cleaned.count("<|im_end|>") == 2
    for line in _lines(MARKDOWN_NOTE):
        if line not in ("* * *", "Share") or not web_page:
            assert line in kept, line
    assert letters_and_digits_kept(MARKDOWN_NOTE, cleaned) == (1.0 if not web_page else pytest.approx(1.0, abs=0.02))


def test_a_markdown_file_keeps_all_its_lines_in_order():
    note = ArticleDocument(
        content={"Title": "예산 메모", "Content": MARKDOWN_NOTE},
        platform="local",
        link="file:///home/me/notes/budget.md",
        **_author(),
    )
    cleaned = clean_document(note).content
    assert _lines(cleaned) == [line for line in _lines(MARKDOWN_NOTE)]
    assert "    <|im_start|>user\n    안녕?<|im_end|>" in cleaned  # the indented example, exactly


# ---- web pages: chrome goes, judged by the page's structure ------------------------------------
PAGE = """<!doctype html><html lang="ko"><head><title>작은 도서관 이야기</title></head><body>
<header><a href="/">Jane's Notes</a><nav><ul><li><a href="/">Home</a></li><li><a href="/tags">Tags</a></li>
<li><a href="/about">About me</a></li></ul></nav></header>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your visit. <button>Accept all</button></div>
<nav class="breadcrumbs"><a href="/">Home</a> › <a href="/2026">2026</a></nav>
<main><article><h1>작은 도서관 이야기</h1>
<p>우리 동네 도서관은 작년 봄에 새 건물로 옮겼다. 예전 건물은 계단이 가파르고 책장이 좁았다.</p>
<p>한다.</p>
<p>34,712</p>
<p>새 건물에는 엘리베이터와 넓은 열람실이 있고, 창가 자리에서는 강이 내려다보인다.</p>
<div class="share-buttons"><a href="#">Share on Facebook</a> <a href="#">Tweet this</a> <a href="#">Copy link</a></div>
</article></main>
<aside class="sidebar"><h3>Popular posts</h3><ul><li>Ten tips for readers</li><li>My reading list</li></ul></aside>
<footer><p>© 2026 Jane Writer. All rights reserved.</p><a href="/privacy">Privacy policy</a></footer>
</body></html>"""


def test_a_crawled_page_loses_its_navigation_and_chrome_but_no_word_of_the_article():
    from llm_engineering.application.crawlers.extract import article_content

    content, _ = article_content(PAGE, "https://notes.example.org/2026/library")
    page = ArticleDocument(content=content, platform="blog", link="https://notes.example.org/2026/library", **_author())
    cleaned = clean_document(page).content
    for chrome in ("Home", "Tags", "About me", "cookies", "Accept all", "Share on Facebook", "Tweet this",
                   "Copy link", "Popular posts", "Ten tips", "All rights reserved", "Privacy policy"):  # fmt: skip
        assert chrome not in cleaned, chrome
    for text in ("# 작은 도서관 이야기", "책장이 좁았다.", "\n\n한다.\n\n", "\n\n34,712\n\n", "강이 내려다보인다."):
        assert text in cleaned, text


# ---- bad input: a clear skip or error, nothing else lost ---------------------------------------
@pytest.fixture
def caplog_loguru():
    from types import SimpleNamespace

    from loguru import logger

    record = SimpleNamespace(text="")

    def sink(message):
        record.text += str(message)

    handler = logger.add(sink, level="WARNING")
    yield record
    logger.remove(handler)


def test_a_document_of_only_whitespace_cleans_to_nothing_and_is_reported(caplog_loguru):
    from llm_engineering.application.preprocessing.cleaning import check_cleaning

    blank = ArticleDocument(
        content={"Title": "빈 문서", "Content": " \n\t\u3000\n\u00a0 \n"},
        platform="local",
        link="file:///n/empty.md",
        **_author(),
    )
    cleaned = clean_document(blank)
    assert cleaned.content == ""
    assert check_cleaning(blank, cleaned, 0.9) is None
    assert "no letters or digits" in caplog_loguru.text


def test_a_one_megabyte_single_line_is_kept_whole_and_fast():
    import time

    line = ("가나다라 abc 123 " * 80_000)[:1_000_000]
    started = time.perf_counter()
    cleaned = clean_prose(line)
    elapsed = time.perf_counter() - started
    assert cleaned == line.strip()
    assert elapsed < 3.0, elapsed


@pytest.mark.parametrize(
    "text",
    [
        "한국어와 English와 日本語と中文, Ελληνικά, русский, עברית, العربية 가 섞인 문장.",
        "Emoji: 👩‍💻 🇰🇷 👍🏽 ❤️ 1️⃣ and 🧑‍🤝‍🧑 stay whole.",
    ],
)
def test_mixed_scripts_and_emoji_sequences_are_untouched(text):
    assert clean_prose(text) == text


def test_lone_surrogates_become_replacement_characters_and_nothing_else_changes():
    text = "앞부분 \ud800 가운데 \udfff 끝 \ud83d\ude00"  # two lone halves, then a real pair
    cleaned = clean_prose(text)
    assert cleaned == "앞부분 \ufffd 가운데 \ufffd 끝 😀"
    cleaned.encode("utf-8")  # storable


def test_nul_and_control_bytes_are_removed_and_nothing_else():
    cleaned = clean_prose("첫\x00 문장\x01입니다.\x0c둘째 쪽.\x7f")
    assert cleaned == "첫 문장입니다.\n둘째 쪽."


def test_code_keeps_every_letter_and_digit():
    code = "def f(x):\n    return {'a': 1}  # 주석\n\n\n\nclass A:\n\tpass\n"
    assert letters_and_digits_kept(code, clean_code(code)) == 1.0


def test_the_kept_share_counts_what_went_missing():
    assert letters_and_digits_kept("abc 123", "abc") == pytest.approx(0.5)
    assert letters_and_digits_kept("  ", "") is None
    assert letters_and_digits_kept("한\u1100\u1161", "한가") == 1.0  # compared after NFC


# ---- property: Markdown and text keep every letter and digit -----------------------------------
_PIECES = st.sampled_from(
    ["한다.", "수 있다.", "34,712", "x", "X", "# ", "## 제목", "- ", "1. ", "| a | b |", "|---|---|", "```", "~~~",
     "    ", "\t", "\n", "\n\n", " ", "<|im_start|>", "<|im_end|>", "‹신 설>", "* * *", "Share this post", "Share",
     "Copy link", "__", "> ", "필요", "한 나이", "well-", "known", "\u00a0", "\u200b", "\x00", "\ud800", "😀", "👩‍💻",
     "Ｆｕｌｌ", "𝐁𝐨𝐥𝐝", "\u1112\u1161\u11ab", "===", "---"]
)  # fmt: skip
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=30)), max_size=60).map("".join)


@settings(max_examples=300, deadline=None, database=None)
@given(_TEXT)
def test_prose_that_is_not_a_web_page_keeps_every_letter_and_digit(text):
    assert letters_and_digits_kept(text, clean_prose(text)) in (1.0, None)


def test_a_long_block_is_content_even_when_its_class_says_social():
    from llm_engineering.application.crawlers.extract import article_content

    body = "".join(f"<p>Paragraph {i} of a post about the social life of a small town library.</p>" for i in range(20))
    html = f'<html><body><nav>Home About</nav><div class="post social-post">{body}</div></body></html>'
    content, _ = article_content(html, "https://notes.example.org/social")
    assert all(f"Paragraph {i} of a post" in content["Content"] for i in range(20))
    assert "Home About" not in content["Content"]
