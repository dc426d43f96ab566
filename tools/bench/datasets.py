"""Benchmark: both datasets from a warehouse dump, back-translation mode, offline.

``python -m tools.bench datasets [--corpus DIR] [--preference-extracts N] [--rejected-max-tokens N]``

Imports the dump (``<Class>.json`` files) into a temporary DATA_DIR, cleans every document with
the feature pipeline's cleaning handlers, stores the cleaned documents in Qdrant local mode, then
builds the instruction dataset (template instructions, no model) and the preference dataset
(template instructions, rejected answers from the local SmolLM2 — on the first N extracts only
unless N is 0, since a CPU writes ~15 tokens/s). Prints JSON: samples, drops per filter, wall
times, and the size and shape of the book's own datasets in the same folder for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from llm_engineering.domain.ports import close_stores
from tools.bench import HANDBOOK_DUMP


def _shape(instructions: list[str], answers: list[str]) -> dict:
    def stats(texts):
        lengths = [len(t) for t in texts]
        if not lengths:
            return {}
        return {"mean_chars": round(statistics.mean(lengths), 1), "median_chars": statistics.median(lengths)}

    return {"instruction": stats(instructions), "answer": stats(answers)}


def book_datasets(corpus: Path) -> dict:
    out = {}
    for kind, answer_key in (("instruct", "answer"), ("preference", "chosen")):
        path = corpus / f"{kind}_datasets.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        splits = {s: [x for c in data[s].values() for x in c["samples"]] for s in ("train", "test")}
        everything = splits["train"] + splits["test"]
        out[kind] = {
            "train": len(splits["train"]),
            "test": len(splits["test"]),
            "shape": _shape([x["instruction"] for x in everything], [x[answer_key] for x in everything]),
        }
        if kind == "preference":
            out[kind]["rejected_mean_chars"] = round(statistics.mean(len(x["rejected"]) for x in everything), 1)
    return out


def _ours(dd, kind: str) -> dict:
    everything = [r for s in ("train", "test") for r in dd[s]]
    answer = "answer" if kind == "instruct" else "chosen"
    answers = [r[answer] if isinstance(r[answer], str) else r[answer][0]["content"] for r in everything]
    out = {
        "train": len(dd["train"]),
        "test": len(dd["test"]),
        "shape": _shape([r["instruction"] for r in everything], answers),
    }
    if kind == "preference" and everything:
        out["rejected_mean_chars"] = round(statistics.mean(len(r["rejected"][0]["content"]) for r in everything), 1)
    return out


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench datasets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=HANDBOOK_DUMP)
    parser.add_argument("--preference-extracts", type=int, default=40, help="0: every extract")
    parser.add_argument("--rejected-max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the local model")
    parser.add_argument("--keep", action="store_true", help="keep the temporary DATA_DIR (datasets, JSONL)")
    args = parser.parse_args(argv)
    if not (args.corpus / "ArticleDocument.json").is_file():
        raise SystemExit(f"no warehouse dump in {args.corpus}")

    work = Path(tempfile.mkdtemp(prefix="llm_twin_bench_datasets_"))
    os.environ["DATA_DIR"] = str(work)
    os.environ.setdefault("MODEL_CACHE_DIR", str(Path(tempfile.gettempdir()) / "llm_twin_test_models"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("LLM_BASE_URL", None)  # offline: template instructions, local model for rejected answers
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    import datasets
    import torch

    datasets.disable_progress_bars()
    torch.set_num_threads(args.threads)

    from llm_engineering.application.dataset import (
        generate_instruct_dataset,
        generate_preference_dataset,
        load_cleaned_documents,
    )
    from llm_engineering.application.preprocessing.cleaning import clean_document
    from llm_engineering.application.warehouse import import_warehouse
    from llm_engineering.domain.documents import declared_categories, document_class

    timings = {}
    started = time.perf_counter()
    import_warehouse(args.corpus)
    raw = [doc for c in declared_categories() for doc in document_class(c).bulk_find()]
    cleaned = [clean_document(doc) for doc in raw]
    by_class: dict[type, list] = {}
    for doc in cleaned:
        by_class.setdefault(type(doc), []).append(doc)
    for cls, docs in by_class.items():
        cls.bulk_upsert(docs)
    documents = load_cleaned_documents()
    timings["import_clean_store_s"] = round(time.perf_counter() - started, 2)

    base = {"instruction_writer": "template", "mode": "backtranslation"}
    started = time.perf_counter()
    instruct, instruct_report = generate_instruct_dataset(documents, base)
    timings["instruct_s"] = round(time.perf_counter() - started, 2)

    preference_config = {
        **base,
        "max_extracts": args.preference_extracts or None,
        "rejected_generation": {"max_tokens": args.rejected_max_tokens, "batch_size": 8, "concurrency": 1},
    }
    started = time.perf_counter()
    preference, preference_report = generate_preference_dataset(documents, preference_config)
    timings["preference_s"] = round(time.perf_counter() - started, 2)
    gen = preference_report.generation
    per_answer = gen["seconds"] / gen["model_calls"] if gen["model_calls"] else None

    result = {
        "corpus": str(args.corpus),
        "documents": {"warehouse": len(raw), "cleaned": len(documents)},
        "torch_threads": args.threads,
        "instruct": {
            "extracts": instruct_report.extracts,
            **_ours(instruct, "instruct"),
            "by_method": instruct_report.by_method,
            "by_author": instruct_report.by_author,
            "dropped": instruct_report.dropped,
            "wall_s": timings["instruct_s"],
        },
        "preference": {
            "extracts_used": preference_report.extracts,
            "extracts_available": instruct_report.extracts,
            **_ours(preference, "preference"),
            "dropped": preference_report.dropped,
            "model": preference_report.model_id,
            "rejected_max_tokens": args.rejected_max_tokens,
            "generation": {k: gen[k] for k in ("model_calls", "completion_tokens", "truncated", "seconds")},
            "seconds_per_rejected_answer": round(per_answer, 2) if per_answer else None,
            "estimated_s_for_every_extract": round(per_answer * instruct_report.extracts) if per_answer else None,
            "wall_s": timings["preference_s"],
        },
        "timings": timings,
        "book": book_datasets(args.corpus),
        "data_dir": str(work),
    }
    close_stores()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        del result["data_dir"]
    print(json.dumps(result, ensure_ascii=False, indent=2))
