"""Step: clean the documents the plan lists (nothing is written yet)."""

import time
from typing import Annotated

from zenml import log_metadata, step

from llm_engineering.application.preprocessing import features
from llm_engineering.application.preprocessing.cleaning import kept_summary
from llm_engineering.application.preprocessing.features import CleanedBatch, FeaturePlan
from llm_engineering.settings import get_settings


@step(enable_cache=False)
def clean_documents(plan: FeaturePlan) -> Annotated[CleanedBatch, "cleaned_documents"]:
    started = time.perf_counter()
    cleaned = features.clean_documents(plan)
    by_category: dict[str, int] = {}
    for document in cleaned.documents:
        by_category[document.category] = by_category.get(document.category, 0) + 1
    log_metadata(
        metadata={
            "documents": len(cleaned.documents),
            "by_category": by_category,
            "characters": sum(len(d.content) for d in cleaned.documents),
            "clean_s": round(time.perf_counter() - started, 3),
            "min_kept_share": get_settings().CLEANING_MIN_KEPT_SHARE,
            **kept_summary(cleaned.letters_kept, get_settings().CLEANING_MIN_KEPT_SHARE),
        },
        artifact_name="cleaned_documents",
        infer_artifact=True,
    )
    return cleaned
