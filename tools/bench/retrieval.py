"""Retrieval latency, time to the first answer and memory at scale, per vector store (no LLM).

For each store (``--stores``: ``edge``, the embedded default; ``local``, qdrant-client's local
mode; ``memory``, qdrant-client's memory mode) and size (``--chunks``), a child process writes a
synthetic corpus (random unit vectors; text sampled from the handbook dump's sentences, Korean
lines among them; 5 chunks per document, 2-3 per passage; two authors) and, for a folder store,
a fresh process then opens it and measures:

* ``open_to_first_answer_s``: from opening the store to the first answered question, the
  embedding model, the stemmer and the Qdrant client library already loaded (``model_load_s``),
  with the first answer's stages;
* ``p50_ms`` / ``p95_ms`` of ``ContextRetriever.retrieve`` (hybrid, query embedding included),
  without and with an author filter;
* resident memory of the process beyond the loaded embedding model: ``rss_anon_mb`` (the heap)
  and ``rss_file_mb`` (memory-mapped store files the kernel can drop).

Usage: python -m tools.bench retrieval [--chunks 10000,100000] [--stores edge,memory,local]
       [--queries 200] [--workdir DIR] [--no-index]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llm_engineering.domain.ports import close_stores, vector_store
from tools.bench import HANDBOOK_DUMP, ROOT

STORES = ("edge", "local", "memory")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench retrieval", description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", default="10000,100000", help="comma-separated corpus sizes")
    parser.add_argument("--stores", default="edge,memory", help=f"comma-separated subset of {STORES}")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the built stores here")
    parser.add_argument(
        "--index",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="build the store's search indexes after writing, as the feature pipeline does (--no-index: exact search)",
    )
    parser.add_argument("--warehouse-dump", type=Path, default=HANDBOOK_DUMP)
    parser.add_argument("--phase", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not stores or set(stores) - set(STORES):
        raise SystemExit(f"unknown stores in {args.stores!r}; choose from {STORES}")
    sizes = [int(n) for n in args.chunks.split(",") if n.strip()]
    if args.phase:
        print(json.dumps(_phase(args, stores[0], sizes[0])))
        return
    if not args.warehouse_dump.is_dir():
        raise SystemExit(f"warehouse dump {args.warehouse_dump} not found; pass --warehouse-dump DIR")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    report: dict = {"load_average_start": [round(x, 2) for x in os.getloadavg()], "results": []}
    try:
        for size in sizes:
            for store in stores:
                row = {"store": store, "chunks": size}
                folder = workdir / f"{store}-{size}"
                shutil.rmtree(folder, ignore_errors=True)
                if store == "memory":
                    row.update(_child(args, store, size, folder, "build,measure"))
                else:
                    row.update(_child(args, store, size, folder, "build"))
                    row.update(_child(args, store, size, folder, "measure"))
                report["results"].append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report["goals"] = {"p95_ms": 100, "open_to_first_answer_s": 1.0, "memory_beyond_model_mb": 100}
    print(json.dumps(report, indent=2))


def _child(args, store: str, size: int, folder: Path, phase: str) -> dict:
    env = dict(os.environ, DATA_DIR=str(folder / "data"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    env["QDRANT_EMBEDDED"] = "local" if store == "local" else "edge"
    if store == "memory":
        env["QDRANT_PATH"] = ":memory:"
    command = [sys.executable, "-m", "tools.bench", "retrieval", "--phase", phase, "--stores", store]
    command += ["--chunks", str(size), "--queries", str(args.queries), "--warehouse-dump", str(args.warehouse_dump)]
    command += [] if args.index else ["--no-index"]
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        return {f"{phase}_error": f"exit status {done.returncode}"}
    return json.loads(done.stdout)


def _memory_mb() -> tuple[float, float]:
    status = Path("/proc/self/status").read_text()
    values = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Rss")}
    return values.get("RssAnon", 0) / 1024, values.get("RssFile", 0) / 1024


def _phase(args, store: str, size: int) -> dict:
    from loguru import logger

    logger.remove()
    import torch

    torch.set_num_threads(1)
    from llm_engineering.application.rag.tokenize import lexical_tokens
    from llm_engineering.infrastructure.embeddings import get_embedder

    out: dict = {}
    started = time.perf_counter()
    embedder = get_embedder()
    embedder.encode(["warm-up"])
    lexical_tokens("warm-up")  # the stemmer, also loaded once per process
    importlib.import_module("qdrant_client.models")  # the client library (~1 s under load), imported at start-up
    out["model_load_s"] = round(time.perf_counter() - started, 2)
    baseline = _memory_mb()  # the model loaded, no store open yet
    if "build" in args.phase:
        out.update(_build(args, size, store))
    if "measure" in args.phase:
        out.update(_measure(args, embedder, baseline))
    return out


def _build(args, size: int, store: str) -> dict:
    import numpy as np

    from llm_engineering.application.rag.lexical import with_sparse_vectors
    from llm_engineering.domain.documents import UserDocument
    from llm_engineering.domain.embedded_chunks import embedded_class
    from llm_engineering.domain.identity import id_from
    from tools.bench.rag import _sentences

    chunk_class = embedded_class("articles")
    sentences = _sentences(args.warehouse_dump)
    authors = [UserDocument.get_or_create_by_name(n) for n in ("Bench Author One", "벤치 저자")]
    rng = random.Random(0)
    vectors = np.random.default_rng(0).standard_normal((size, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    batch: list = []
    passage_text = ""
    for i in range(size):
        document, index = i // 5, i % 5
        author = authors[document % 2]
        text = " ".join(rng.sample(sentences, 3))
        if index in (0, 3):  # passages: chunks 0-2 and 3-4 of each document
            passage_text = text + " " + " ".join(rng.sample(sentences, 3 if index == 0 else 2))
            lead = None
        chunk = chunk_class(
            content=text,
            embedding=vectors[i].tolist(),
            document_id=id_from("bench-doc", str(document)),
            chunk_index=index,
            passage_index=0 if index < 3 else 1,
            passage=passage_text,
            title=f"Synthetic document {document}",
            platform="bench",
            author_id=author.id,
            author_full_name=author.full_name,
            link=f"https://bench.example/{document}",
        )
        lead = lead or chunk.id
        chunk.passage_id = lead
        batch.append(chunk)
        if len(batch) == 2000:
            chunk_class.bulk_upsert(with_sparse_vectors(batch))
            batch = []
    if batch:
        chunk_class.bulk_upsert(with_sparse_vectors(batch))
    out = {"write_s": round(time.perf_counter() - started, 1)}
    if args.index:
        started = time.perf_counter()
        chunk_class.build_indexes()
        out["index_s"] = round(time.perf_counter() - started, 1)
    if "measure" not in args.phase:
        close_stores()
    return out


def _measure(args, embedder, baseline: tuple[float, float]) -> dict:
    """Open the store (unless the build left it open) and answer questions; memory beyond ``baseline``."""
    from llm_engineering.application.rag import ContextRetriever, RetrievalConfig, load_qa

    retriever = ContextRetriever(RetrievalConfig.from_settings(), embedder=embedder)
    started = time.perf_counter()
    vector_store()
    open_s = time.perf_counter() - started
    first = retriever.retrieve("How do I monitor a vector database cluster?", k=5)
    first_s = time.perf_counter() - started
    data = ROOT / "tools/bench/data"
    questions = [
        r["question"] for name in ("handbook_qa.jsonl", "handbook_qa_holdout.jsonl") for r in load_qa(data / name)
    ]
    out: dict = {"open_s": round(open_s, 3), "open_to_first_answer_s": round(first_s, 3)}
    out["first_answer_chunks"], out["first_answer_stages_ms"] = len(first.chunks), first.timings_ms
    for label, suffix in (("no filter", ""), ("author filter", " according to 벤치 저자")):
        totals = []
        for i in range(args.queries):
            totals.append(retriever.retrieve(questions[i % len(questions)] + suffix, k=5).timings_ms["total"])
        ordered = sorted(totals)
        out[label] = {
            "p50_ms": round(statistics.median(totals), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 2),
        }
    anon, file = _memory_mb()
    out["rss_anon_mb"], out["rss_file_mb"] = round(anon - baseline[0], 1), round(file - baseline[1], 1)
    close_stores()
    return out
