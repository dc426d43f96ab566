"""Cleaning keeps the writing (any script, paragraphs, code) and drops page chrome."""

from __future__ import annotations

import uuid

import pytest

from llm_engineering.application.preprocessing.cleaning import clean_code, clean_document, clean_prose
from llm_engineering.domain.cleaned_documents import CleanedArticleDocument, CleanedRepositoryDocument
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
    assert isinstance(cleaned, CleanedArticleDocument)
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
    assert isinstance(cleaned, CleanedRepositoryDocument)
    assert cleaned.title == "tools"
    assert cleaned.content == (
        "## README.md\n\n```\n# Tools\n\nUse   them.\n```\n\n## src/b.py\n\n```\ndef b():\n    return 2\n```"
    )
