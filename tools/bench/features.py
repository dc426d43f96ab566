"""Benchmark the feature pipeline against the bare encoder: ``python -m tools.bench features``.

Imports a warehouse dump (``<ClassName>.json`` files) into a temporary DATA_DIR, then, in one
process with one loaded model:

1. encodes the pipeline's chunk texts with a bare ``SentenceTransformer.encode`` (the floor);
2. runs the whole feature pipeline (plan, clean, chunk, embed, write to Qdrant local mode);
3. encodes the same texts bare again (the floor is the mean of both, fairer on a busy machine);
4. runs the pipeline again with nothing changed.

Prints JSON: the pipeline/bare ratio (goal ≤ 1.25), second/first run ratio (goal ≤ 0.05),
chunks per second, the pipeline's own timings and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from llm_engineering.domain.ports import close_stores
from tools.bench import HANDBOOK_DUMP


def _limited_dump(source: Path, limit: int, into: Path) -> Path:
    """A copy of the dump with at most ``limit`` documents per document file."""
    into.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.stem != "UserDocument" and isinstance(data, list):
            data = data[:limit]
        (into / path.name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return into


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench features", description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse-dump", type=Path, default=HANDBOOK_DUMP, help="folder of <ClassName>.json files")
    parser.add_argument("--limit", type=int, default=0, help="at most this many documents per category (0: all)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bare-once", action="store_true", help="time the bare encode only before the pipeline")
    args = parser.parse_args(argv)

    dump = args.warehouse_dump
    if not dump.is_dir():
        raise SystemExit(f"warehouse dump {dump} not found; pass --warehouse-dump DIR (a folder of <ClassName>.json)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-features-"))
    os.environ["DATA_DIR"] = str(workdir / "data")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.limit:
        dump = _limited_dump(dump, args.limit, workdir / "dump")
    try:
        print(json.dumps(run(dump, args), indent=2))
    finally:
        close_stores()
        shutil.rmtree(workdir, ignore_errors=True)


def run(dump: Path, args: argparse.Namespace) -> dict:
    import torch
    from loguru import logger

    from llm_engineering.application.preprocessing.chunking import ChunkingConfig, chunking_handler
    from llm_engineering.application.preprocessing.features import (
        FeatureConfig,
        clean_documents,
        plan_features,
        run_feature_engineering,
    )
    from llm_engineering.application.warehouse import import_warehouse
    from llm_engineering.infrastructure.embeddings import load_embedder
    from llm_engineering.settings import get_settings

    logger.remove()
    logger.add(lambda m: None, level="WARNING")
    if args.threads:
        torch.set_num_threads(args.threads)
    import_warehouse(dump)
    started = time.perf_counter()
    embedder = load_embedder(get_settings().EMBEDDING_MODEL_ID)
    load_s = time.perf_counter() - started
    embedder.encode(["warm-up"] * 4)
    config = FeatureConfig(batch_size=args.batch_size)

    # The chunk texts the pipeline will embed (cleaning and chunking are deterministic).
    plan = plan_features(config)
    texts = []
    for document in clean_documents(plan).documents:
        cat = next(p for p in plan.categories if p.category == document.category)
        chunks = chunking_handler(document.category).chunk(
            document, embedder.tokenizer, ChunkingConfig(cat.chunk_size, cat.chunk_overlap)
        )
        texts.extend(c.text for c in chunks)

    def bare() -> float:
        started = time.perf_counter()
        embedder.model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return time.perf_counter() - started

    # Bare encode before and after the pipeline: on a shared machine the mean is the fairer floor.
    bare_before = bare()
    started = time.perf_counter()
    first = run_feature_engineering(config, embedder=embedder)
    first_s = time.perf_counter() - started
    bare_after = bare() if not args.bare_once else bare_before
    bare_s = (bare_before + bare_after) / 2

    started = time.perf_counter()
    second = run_feature_engineering(config, embedder=embedder)
    second_s = time.perf_counter() - started

    chunks = first.total("chunks_written")
    assert chunks == len(texts), (chunks, len(texts))
    return {
        "dump": str(dump),
        "documents": first.total("documents_processed"),
        "chunks": chunks,
        "tokens": first.total("tokens_embedded"),
        "torch_threads": torch.get_num_threads(),
        "model_load_s": round(load_s, 2),
        "bare_encode_s": round(bare_s, 2),
        "bare_encode_before_after_s": [round(bare_before, 2), round(bare_after, 2)],
        "pipeline_first_run_s": round(first_s, 2),
        "ratio_pipeline_to_bare": round(first_s / bare_s, 3),
        "goal_ratio": 1.25,
        "pipeline_second_run_s": round(second_s, 3),
        "second_run_embedded_chunks": second.total("chunks_written"),
        "ratio_second_to_first": round(second_s / first_s, 4),
        "goal_second_ratio": 0.05,
        "chunks_per_s": round(chunks / first_s, 2),
        "bare_chunks_per_s": round(chunks / bare_s, 2),
        "first_run_timings_s": {k: round(v, 3) for k, v in first.timings_s.items()},
        "share_not_embedding": round(1 - first.timings_s.get("embed", 0.0) / first_s, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
