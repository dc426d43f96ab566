"""Step: crawl the author's links into the warehouse; outcomes as artifact and metadata."""

from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application import etl
from llm_engineering.domain.documents import UserDocument


@step(enable_cache=False)
def crawl_links(
    user: UserDocument,
    links: list[str],
    force: bool = False,
    allow_local_files: bool = False,
    max_workers: int | None = None,
) -> Annotated[list[etl.LinkOutcome], "crawled_links"]:
    outcomes = etl.crawl_links(user, links, force=force, max_workers=max_workers, allow_local_files=allow_local_files)
    print(etl.summary_table(outcomes), flush=True)
    log_metadata(metadata={"crawl": etl.summarize(outcomes)}, artifact_name="crawled_links", infer_artifact=True)
    etl.check_outcomes(user, outcomes)  # every link failed: the run fails, no empty author stays
    return outcomes
