"""The digital-data ETL: crawl an author's links concurrently into the warehouse.

Each link gets one outcome: ``ok`` (documents written), ``skipped`` (already in the warehouse,
unless ``force``) or ``failed`` with the reason. A failure never stops the batch, and a link's
documents are written in one transaction, so nothing is half-written.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel

from llm_engineering.application.crawlers import CrawlContext, CrawlerDispatcher
from llm_engineering.domain.base.nosql import DOCUMENT_CLASSES
from llm_engineering.domain.documents import Document, UserDocument
from llm_engineering.exceptions import ConfigurationError, LLMTwinError
from llm_engineering.infrastructure.browser import SharedBrowser
from llm_engineering.infrastructure.http import Fetcher
from llm_engineering.settings import get_settings

Status = Literal["ok", "skipped", "failed"]


class LinkOutcome(BaseModel):
    """What happened to one link."""

    link: str
    status: Status
    crawler: str | None = None
    documents: int = 0  # written (new or updated)
    skipped_documents: int = 0  # already stored, left alone (no force)
    reason: str | None = None
    seconds: float = 0.0


def validate_etl_parameters(user_full_name: Any, links: Any) -> tuple[str, list[str]]:
    """Check the run configuration up front; ConfigurationError says what to fix."""
    if not isinstance(user_full_name, str) or not user_full_name.strip():
        raise ConfigurationError(
            "digital_data_etl needs the author: set parameters.user_full_name to a non-empty name in the config"
        )
    if not isinstance(links, list):
        raise ConfigurationError(
            f"parameters.links must be a list of links (YAML '- https://…' items), not {type(links).__name__}"
        )
    bad = [i for i, link in enumerate(links) if not isinstance(link, str) or not link.strip()]
    if bad:
        raise ConfigurationError(f"parameters.links items {bad} are not non-empty strings")
    if not links:
        raise ConfigurationError("parameters.links is empty: list at least one link")
    return user_full_name.strip(), [link.strip() for link in links]


def crawl_links(
    user: UserDocument,
    links: list[str],
    force: bool = False,
    max_workers: int | None = None,
    allow_local_files: bool = False,
    settings=None,
    progress: bool = True,
) -> list[LinkOutcome]:
    """Crawl ``links`` for ``user`` with a bounded thread pool; outcomes in the links' order."""
    from tqdm.auto import tqdm

    settings = settings or get_settings()
    workers = max(1, min(max_workers or settings.CRAWL_MAX_WORKERS, len(links) or 1))
    dispatcher = CrawlerDispatcher(allow_local_files=allow_local_files)
    browser = SharedBrowser(settings)
    outcomes: dict[int, LinkOutcome] = {}
    first_index: dict[str, int] = {}
    with Fetcher(settings) as fetcher:
        context = CrawlContext(settings=settings, fetcher=fetcher, browser=browser, allow_local_files=allow_local_files)
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crawl") as pool:
                futures = {}
                for i, link in enumerate(links):
                    key = link.strip() if isinstance(link, str) else repr(link)
                    if key in first_index:
                        outcomes[i] = LinkOutcome(link=str(link), status="skipped", reason="duplicate in the list")
                        continue
                    first_index[key] = i
                    futures[pool.submit(crawl_link, link, user, dispatcher, context, force)] = i
                with tqdm(total=len(futures), desc="crawling", unit="link", disable=not progress) as bar:
                    for future in as_completed(futures):
                        outcome = future.result()
                        outcomes[futures[future]] = outcome
                        bar.set_postfix_str(f"{outcome.status}: {outcome.link[-40:]}")
                        bar.update()
        finally:
            browser.close()
    return [outcomes[i] for i in range(len(links))]


def crawl_link(
    link: str, user: UserDocument, dispatcher: CrawlerDispatcher, context: CrawlContext, force: bool = False
) -> LinkOutcome:
    """Crawl one link and save its documents; every failure becomes a recorded outcome."""
    started = time.perf_counter()
    crawler_name = None
    try:
        crawler = dispatcher.get_crawler(link)
        crawler_name = crawler.name
        if not force and crawler.already_crawled(link):
            return LinkOutcome(
                link=link,
                status="skipped",
                crawler=crawler_name,
                reason="already in the warehouse (use force)",
                seconds=time.perf_counter() - started,
            )
        documents = crawler.crawl(link, user, context)
        if not documents:
            raise LLMTwinError("no documents found")
        written, skipped = save_documents(documents, force)
        status: Status = "ok" if written else "skipped"
        return LinkOutcome(
            link=link,
            status=status,
            crawler=crawler_name,
            documents=written,
            skipped_documents=skipped,
            reason=None if written else "every document already in the warehouse (use force)",
            seconds=time.perf_counter() - started,
        )
    except LLMTwinError as exc:
        reason = str(exc)
    except Exception as exc:  # a crawler bug must not sink the batch; it is logged with its trace
        logger.exception("unexpected error while crawling {}", link)
        reason = f"unexpected {type(exc).__name__}: {exc}"
    logger.warning("failed {}: {}", link, reason)
    return LinkOutcome(
        link=link, status="failed", crawler=crawler_name, reason=reason, seconds=time.perf_counter() - started
    )


class CrawlFailedError(LLMTwinError):
    """Every link of a run failed."""


def check_outcomes(user: UserDocument, outcomes: list[LinkOutcome]) -> None:
    """Raise CrawlFailedError when every link failed, first removing the author if nothing of
    theirs is stored (a failed run leaves no empty author behind)."""
    if not outcomes or any(o.status != "failed" for o in outcomes):
        return
    removed = remove_author_if_empty(user)
    note = f"; the author {user.full_name!r} had no documents and was removed" if removed else ""
    raise CrawlFailedError(f"all {len(outcomes)} links failed (reasons in the table above){note}")


def remove_author_if_empty(user: UserDocument) -> bool:
    """Delete ``user`` when no stored document names them as author; returns whether it was."""
    for cls in DOCUMENT_CLASSES.values():
        if "author_id" in cls.model_fields and cls.count(author_id=user.id):
            return False
    return UserDocument.delete(id=user.id) > 0


def save_documents(documents: list[Document], force: bool) -> tuple[int, int]:
    """Upsert documents by link (same link → same id, content updated); returns (written, skipped).

    Without ``force``, documents whose link is already stored are left alone.
    """
    by_class: dict[type[Document], list[Document]] = defaultdict(list)
    for doc in documents:
        by_class[type(doc)].append(doc)
    written = skipped = 0
    for cls, docs in by_class.items():
        unique = list({(d.link or str(d.id)): d for d in docs}.values())
        if not force:
            links = [d.link for d in unique if d.link]
            stored = {d.link for d in cls.bulk_find(link=links)} if links else set()
            fresh = [d for d in unique if not d.link or d.link not in stored]
            skipped += len(unique) - len(fresh)
            unique = fresh
        if unique:
            inserted, updated = cls.bulk_upsert(unique)
            written += inserted + updated
    return written, skipped


def summarize(outcomes: list[LinkOutcome]) -> dict[str, Any]:
    """Counts for metadata: links per status, documents written, failures with reasons."""
    counts = Counter(o.status for o in outcomes)
    return {
        "links": len(outcomes),
        "ok": counts.get("ok", 0),
        "skipped": counts.get("skipped", 0),
        "failed": counts.get("failed", 0),
        "documents_written": sum(o.documents for o in outcomes),
        "documents_skipped": sum(o.skipped_documents for o in outcomes),
        "by_crawler": dict(Counter(o.crawler or "none" for o in outcomes)),
        "failures": {o.link: o.reason for o in outcomes if o.status == "failed"},
    }


def summary_table(outcomes: list[LinkOutcome], width: int = 60) -> str:
    """A plain-text table of the outcomes, one row per link."""

    def cut(text: str | None, n: int) -> str:
        text = (text or "").replace("\n", " ")
        return text if len(text) <= n else text[: n - 1] + "…"

    header = f"{'status':<8} {'crawler':<16} {'docs':>5} {'secs':>6}  {'link':<{width}}  reason"
    rows = [header, "-" * len(header)]
    for o in outcomes:
        rows.append(
            f"{o.status:<8} {cut(o.crawler, 16):<16} {o.documents:>5} {o.seconds:>6.2f}  "
            f"{cut(o.link, width):<{width}}  {cut(o.reason, 100)}"
        )
    s = summarize(outcomes)
    rows.append(
        f"{s['ok']} ok, {s['skipped']} skipped, {s['failed']} failed; {s['documents_written']} documents written"
    )
    return "\n".join(rows)
