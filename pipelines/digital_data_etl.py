"""The digital-data ETL pipeline: the author, then their links crawled into the warehouse.

Run: ``python -m tools.run digital_data_etl --config configs/digital_data_etl_<author>.yaml``.
"""

from typing import Any

from zenml import pipeline

from llm_engineering.application.etl import validate_etl_parameters
from pipelines._flow import name_run
from steps.etl import crawl_links, get_or_create_user


@pipeline
def digital_data_etl(
    user_full_name: Any = None,
    links: Any = None,
    force: bool = False,
    allow_local_files: bool = False,
    max_workers: int | None = None,
) -> None:
    # Typed loosely so a bad config reaches this check and gets a message that says what to fix.
    user_full_name, links = validate_etl_parameters(user_full_name, links)
    name_run(f"etl {user_full_name}"[:40])
    user = get_or_create_user(user_full_name)
    crawl_links(user=user, links=links, force=force, allow_local_files=allow_local_files, max_workers=max_workers)
