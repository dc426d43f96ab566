"""Main-content extraction shared by the HTML crawlers (trafilatura: maintained, handles
boilerplate, keeps headings, lists, code and tables as Markdown)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import lxml.etree
import lxml.html
import trafilatura
from bs4 import BeautifulSoup
from trafilatura.metadata import extract_metadata

from llm_engineering.application.crawlers.errors import CrawlError

_DATE_CONFIG = {"extensive_search": False, "original_date": True}
# Fewer letters/digits than this and a page has no article (only menus, a title, a footer).
MIN_ARTICLE_CHARS = 20
_BOT_CHECK_MARKERS = (
    "just a moment...",
    "cf-challenge",
    "challenge-platform",
    "verify you are human",
    "checking your browser",
    "checking if the site connection is secure",
    "enable javascript and cookies to continue",
    "g-recaptcha",
    "h-captcha",
    "captcha-delivery",
)


def looks_like_bot_check(html: str) -> bool:
    """True for an anti-bot interstitial (Cloudflare-style challenge, captcha wall)."""
    head = html[:20000].casefold()
    return any(marker in head for marker in _BOT_CHECK_MARKERS)


def parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# Page chrome by the page's own structure: navigation, and small blocks whose class, id or label
# names them as share buttons, cookie or consent banners, newsletter boxes or breadcrumbs.
_CHROME_NAME = re.compile(
    r"(?:^|[\s_-])(?:share|sharing|social|cookies?|consent|gdpr|newsletter|subscribe|breadcrumbs?)(?:$|[\s_-])",
    re.IGNORECASE,
)
_CHROME_MAX_CHARS = 1000  # a block this long is content, whatever its class says


def strip_page_chrome(html: str):
    """The page as an lxml tree without its navigation and chrome blocks (see ``_CHROME_NAME``);
    a block that holds the article (``<article>``, ``<main>``) or much text is never removed.
    Markup lxml cannot read is returned as it is (the extractor has its own parser)."""
    try:
        tree = lxml.html.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", html))
    except (ValueError, lxml.etree.ParserError):
        return html
    for element in tree.xpath("//nav | //*[@role='navigation'] | //*[@class or @id or @aria-label]"):
        if element.getparent() is None or element.tag in ("html", "body", "article", "main"):
            continue
        names = " ".join(element.get(a, "") for a in ("class", "id", "aria-label"))
        if element.tag != "nav" and element.get("role") != "navigation" and not _CHROME_NAME.search(names):
            continue
        if element.xpath(".//article | .//main") or len(element.text_content()) > _CHROME_MAX_CHARS:
            continue
        element.drop_tree()
    return tree


def html_to_markdown(html: str, url: str | None = None, fallback: bool = True) -> str:
    """Main text of a page or fragment as Markdown-ish text; empty when there is none.

    ``fallback``: when the extractor finds no main text, use the markup's plain text (feed
    fragments); off for whole pages, where it would keep only menus and footers, and whose
    navigation and chrome blocks are removed by their markup first (``strip_page_chrome``).
    """
    text = trafilatura.extract(
        html if fallback or not html.strip() else strip_page_chrome(html),
        url=url,
        output_format="markdown",
        include_formatting=True,
        include_tables=True,
        include_links=False,
        include_images=False,
        include_comments=False,
        favor_recall=True,
        deduplicate=False,
    )
    if not text and fallback:
        # Feed fragments: plain text of the markup.
        soup = BeautifulSoup(html, "lxml")
        for tag in soup(["script", "style", "noscript", "template"]):
            tag.decompose()
        text = soup.get_text("\n")
    return re.sub(r"\n{3,}", "\n\n", text or "").strip()


def article_content(html: str, url: str, bot_check_is_error: bool = True) -> tuple[dict, datetime | None]:
    """``({"Title", "Subtitle", "Content"}, published_at)`` of an article page.

    Raises CrawlError for a bot-check page or a page without article text.
    """
    if bot_check_is_error and looks_like_bot_check(html):
        raise CrawlError(f"the site answered with a bot-check page instead of the article at {url}")
    content = html_to_markdown(html, url, fallback=False)
    if len(re.sub(r"\W+", "", content)) < MIN_ARTICLE_CHARS:
        raise CrawlError(f"empty article: no main text found at {url}")
    # No "extensive" date search: it tries every dateparser locale (seconds per page); dates come
    # from the page's markup (meta tags, <time>, URL patterns) instead.
    meta = extract_metadata(html, default_url=url, date_config=_DATE_CONFIG)
    title = (meta.title if meta else None) or ""
    subtitle = (meta.description if meta else None) or None
    published = _published(html) or (parse_date(meta.date) if meta and meta.date else None)
    return {"Title": title.strip(), "Subtitle": subtitle, "Content": content}, published


def _published(html: str) -> datetime | None:
    soup = BeautifulSoup(html[:200000], "lxml")
    for attrs in (
        {"property": "article:published_time"},
        {"name": "article:published_time"},
        {"itemprop": "datePublished"},
        {"name": "date"},
    ):
        tag = soup.find("meta", attrs=attrs)
        if tag and tag.get("content"):
            found = parse_date(tag["content"])
            if found:
                return found
    time_tag = soup.find("time", attrs={"datetime": True})
    return parse_date(time_tag["datetime"]) if time_tag else None
