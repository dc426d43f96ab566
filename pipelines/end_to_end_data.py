"""ETL, then features: crawl each author's links into the warehouse, then clean, chunk and embed.

Run: ``python -m tools.run end_to_end_data`` (parameters in configs/end_to_end_data.yaml).
``features`` holds the feature pipeline's parameters (those of ``feature_engineering`` but
``authors``: the features are built for the authors just crawled).
"""

from typing import Any

from zenml import pipeline

from llm_engineering.application.etl import validate_etl_parameters
from llm_engineering.exceptions import ConfigurationError
from pipelines._flow import name_run
from pipelines.feature_engineering import add_feature_steps, feature_config
from steps.etl import crawl_links, get_or_create_user


@pipeline
def end_to_end_data(
    author_links: Any = None,
    force: bool = False,
    allow_local_files: bool = False,
    max_workers: int | None = None,
    features: dict[str, Any] | None = None,
) -> None:
    if not isinstance(author_links, list) or not author_links:
        raise ConfigurationError(
            "end_to_end_data needs parameters.author_links: a list of {user_full_name: ..., links: [...]}"
        )
    if "authors" in (features or {}):
        raise ConfigurationError("end_to_end_data builds features for the authors it crawls: drop features.authors")
    name_run("etl + features")
    names, crawls = [], []
    for i, entry in enumerate(author_links):
        if not isinstance(entry, dict):
            raise ConfigurationError(f"parameters.author_links[{i}] must be a mapping with user_full_name and links")
        name, links = validate_etl_parameters(entry.get("user_full_name"), entry.get("links"))
        user = get_or_create_user(name, id=f"get_or_create_user_{i}")
        crawl_links(
            user=user,
            links=links,
            force=force,
            allow_local_files=allow_local_files,
            max_workers=max_workers,
            id=f"crawl_links_{i}",
        )
        names.append(name)
        crawls.append(f"crawl_links_{i}")
    add_feature_steps(feature_config(**{"show_progress": True, **(features or {})}, authors=names), after=crawls)
