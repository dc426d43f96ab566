"""RAG benchmarks (not tests); prints JSON.

1. quality: for each corpus (``--corpus``, each in its own process and temporary DATA_DIR) imports
   it, runs the feature pipeline, then evaluates retrieval (dense, BM25, hybrid) on each of its
   QA sets: recall@k, MRR, evidence@k, a ``summary`` with the three side by side, and
   ``hybrid_against_halves``: hybrid minus each half on MRR and evidence@5, paired over the
   questions (95% bootstrap interval, questions better and worse).
   ``handbook``: the warehouse dump (default ../shared/corpora/llm-engineers-handbook) with
   tools/bench/data/handbook_qa.jsonl (45 questions, written while the retriever was developed)
   and handbook_qa_holdout.jsonl (80 questions over all 76 articles, written independently of the
   retriever and never tuned on). ``korean``: three real Korean documents by three authors
   (tools/bench/data/korean/, see its README) with korean_qa.jsonl and korean_qa_holdout.jsonl
   (23 questions each);
2. latency: retrieval p50/p95 without LLM calls on a synthetic collection of --chunks chunks in
   Qdrant memory mode (random unit vectors, text sampled from the dump's sentences), query
   embedding included (``python -m tools.bench retrieval`` compares the stores at scale);
3. service: /rag latency and generated tokens/s with the local model, over the imported corpus;
4. concurrency: --clients clients at once on /v1/chat/completions (max_tokens 4, RAG off unless
   --concurrency-rag), errors counted.

Usage: python -m tools.bench rag [--only quality,latency,service,concurrency] [--corpus handbook,korean]
       [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from llm_engineering.domain.ports import close_stores
from tools.bench import HANDBOOK_DUMP, ROOT

DEFAULT_QA = [Path(__file__).with_name("data") / name for name in ("handbook_qa.jsonl", "handbook_qa_holdout.jsonl")]
PARTS = ("quality", "latency", "service", "concurrency")
CORPORA = ("handbook", "korean")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench rag", description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse-dump", type=Path, default=HANDBOOK_DUMP)
    parser.add_argument(
        "--qa", type=Path, action="append", help="QA JSON lines (repeatable; default: the two handbook sets)"
    )
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated subset of {PARTS}")
    parser.add_argument(
        "--corpus", default=",".join(CORPORA), help=f"corpora the quality part evaluates, a subset of {CORPORA}"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep the imported, embedded corpus here")
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rag-requests", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument(
        "--concurrency-rag",
        action="store_true",
        help="RAG on for the concurrency part (each prompt then carries ~1.5k context tokens to prefill)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    args.qa = args.qa or DEFAULT_QA
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := set(parts) - set(PARTS):
        raise SystemExit(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    corpora = [c.strip() for c in args.corpus.split(",") if c.strip()]
    if not corpora or set(corpora) - set(CORPORA):
        raise SystemExit(f"unknown corpora in {args.corpus!r}; choose from {CORPORA}")
    needs_dump = "handbook" in corpora or set(parts) - {"quality"}
    if needs_dump and not args.warehouse_dump.is_dir():
        raise SystemExit(f"warehouse dump {args.warehouse_dump} not found; pass --warehouse-dump DIR")
    if "quality" in parts and len(corpora) > 1:
        # one process per corpus: each gets its own DATA_DIR, stores and settings
        quality_ = {}
        for corpus in corpora:
            result = _child(argv, "quality", corpus, args.workdir)
            quality_[corpus] = {"corpus": result.get("corpus"), **result.get("quality", result)}
        report = {"quality": quality_}
        rest = [p for p in parts if p != "quality"]
        if rest:
            report.update(_child(argv, ",".join(rest), "handbook", args.workdir))
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-rag-"))
    os.environ["DATA_DIR"] = str(workdir / "data")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TORCH_NUM_THREADS", str(args.threads))
    import torch
    from loguru import logger

    logger.remove()
    logger.add(lambda m: None, level="WARNING")
    torch.set_num_threads(args.threads)
    report: dict = {"load_average_start": [round(x, 2) for x in os.getloadavg()], "torch_threads": args.threads}
    try:
        if "quality" in parts and corpora == ["korean"]:
            report["corpus"], qa_sets = prepare_korean(workdir / "korean")
            report["quality"] = {qa.name: quality(qa) for qa in qa_sets}
        elif {"quality", "service", "concurrency"} & set(parts):
            report["corpus"] = prepare_corpus(args.warehouse_dump)
        if "quality" in parts and corpora == ["handbook"]:
            report["quality"] = {qa.name: quality(qa) for qa in args.qa}
        if {"service", "concurrency"} & set(parts):
            report.update(service(args, parts))
        if "latency" in parts:
            report["latency"] = latency(args)
        report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(report, indent=2, ensure_ascii=False))
    finally:
        close_stores()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _without(argv: list[str], *options: str) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item in options:
            skip = True
        elif not any(item.startswith(f"{o}=") for o in options):
            out.append(item)
    return out


def _child(argv: list[str], parts: str, corpus: str, workdir: Path | None) -> dict:
    """The report of ``parts`` on one corpus, measured in a child process (in ``workdir/corpus``)."""
    command = [sys.executable, "-m", "tools.bench", "rag", *_without(argv, "--only", "--corpus", "--workdir")]
    command += ["--only", parts, "--corpus", corpus]
    if workdir is not None:
        command += ["--workdir", str(workdir / corpus)]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode:
        return {"error": f"{parts} on {corpus}: exit status {done.returncode}"}
    return json.loads(done.stdout)


def prepare_korean(folder: Path) -> tuple[dict, list[Path]]:
    from llm_engineering.application.preprocessing.features import run_feature_engineering
    from llm_engineering.domain.documents import declared_categories
    from llm_engineering.domain.embedded_chunks import embedded_class
    from tools.bench import _korean

    started = time.perf_counter()
    qa_sets = _korean.prepare(folder)
    run_feature_engineering()
    corpus = {
        "chunks": sum(embedded_class(c).count() for c in declared_categories()),
        "import_and_features_s": round(time.perf_counter() - started, 1),
    }
    return corpus, qa_sets


def prepare_corpus(dump: Path) -> dict:
    from llm_engineering.application.preprocessing.features import run_feature_engineering
    from llm_engineering.application.warehouse import import_warehouse
    from llm_engineering.domain.documents import declared_categories
    from llm_engineering.domain.embedded_chunks import embedded_class

    started = time.perf_counter()
    import_warehouse(dump)
    run_feature_engineering()
    return {
        "chunks": sum(embedded_class(c).count() for c in declared_categories()),
        "import_and_features_s": round(time.perf_counter() - started, 1),
    }


def quality(qa: Path) -> dict:
    from llm_engineering.application.rag import ContextRetriever, RetrievalConfig, load_qa, measure_retrieval

    rows = load_qa(qa)
    variants = {
        "dense": dict(mode="dense"),
        "lexical": dict(mode="lexical"),
        "hybrid": dict(),
    }
    out, each = {}, {}
    for name, overrides in variants.items():
        retriever = ContextRetriever(RetrievalConfig.from_settings(**overrides))
        started = time.perf_counter()
        result = measure_retrieval(rows, (1, 3, 5, 10), retriever, per_question=True)
        result["seconds"] = round(time.perf_counter() - started, 2)
        result["misses"], result["evidence_misses"] = result["misses"][:8], result["evidence_misses"][:8]
        each[name] = result.pop("per_question")
        out[name] = result
    out["summary"] = {
        name: {"recall@5": r["recall"]["@5"], "mrr": r["mrr"], "evidence@5": r["evidence"]["@5"]}
        for name, r in out.items()
    }
    out["hybrid_against_halves"] = {half: _paired(rows, each[half], each["hybrid"]) for half in ("dense", "lexical")}
    korean = qa.name.startswith("korean")
    out["goal"] = (
        {"recall@5": 1.0, "mrr": 0.95, "evidence@5": 0.95}
        if korean
        else {"recall@5": 0.97, "mrr": 0.90, "evidence@5": 0.90}
    )
    return out


def _paired(rows: list[dict], half: list[dict], hybrid: list[dict]) -> dict:
    """Hybrid minus one half on the same questions: MRR and evidence@5 with 95% bootstrap intervals
    and the questions each one ranks better, so "hybrid ≥ its halves" is read with its noise."""
    from llm_engineering.application.evaluation.stats import paired_bootstrap

    def reciprocal(item: dict) -> float:
        return 1.0 / item["rank"] if item["rank"] else 0.0

    def evidence5(item: dict) -> float:
        return float(bool(item["evidence_position"] and item["evidence_position"] <= 5))

    out = {}
    for metric, value, keep in (
        ("mrr", reciprocal, [True] * len(rows)),
        ("evidence@5", evidence5, [bool(row.get("evidence")) for row in rows]),
    ):
        a = [value(item) for item, k in zip(half, keep, strict=True) if k]
        b = [value(item) for item, k in zip(hybrid, keep, strict=True) if k]
        comparison = paired_bootstrap(a, b, resamples=2000)
        measured = comparison.difference is not None
        out[metric] = {
            "difference": round(comparison.difference, 4) if measured else None,
            "ci95": [round(comparison.low, 4), round(comparison.high, 4)] if measured else None,
            "verdict": comparison.verdict,
            "hybrid_better": sum(y > x for x, y in zip(a, b, strict=True)),
            "hybrid_worse": sum(y < x for x, y in zip(a, b, strict=True)),
        }
    return out


def latency(args) -> dict:
    """Retrieval latency on a synthetic --chunks collection in Qdrant memory mode."""
    import numpy as np

    from llm_engineering.application.rag import ContextRetriever, RetrievalConfig, load_qa
    from llm_engineering.application.rag.lexical import with_sparse_vectors
    from llm_engineering.domain.documents import UserDocument
    from llm_engineering.domain.embedded_chunks import embedded_class
    from llm_engineering.domain.identity import id_from
    from llm_engineering.settings import get_settings

    sentences = _sentences(args.warehouse_dump)
    close_stores()
    os.environ["QDRANT_PATH"] = ":memory:"
    get_settings.cache_clear()
    try:
        authors = [UserDocument.get_or_create_by_name(n) for n in ("Bench Author One", "벤치 저자")]
        rng = random.Random(0)
        vectors = np.random.default_rng(0).standard_normal((args.chunks, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = []
        for i in range(args.chunks):
            author = authors[i % 2]
            document_id = id_from("bench-doc", str(i // 5))
            chunks.append(
                embedded_class("articles")(
                    content=" ".join(rng.sample(sentences, 6)),
                    embedding=vectors[i].tolist(),
                    document_id=document_id,
                    chunk_index=i % 5,
                    title=f"Synthetic document {i // 5}",
                    platform="bench",
                    author_id=author.id,
                    author_full_name=author.full_name,
                    link=f"https://bench.example/{i // 5}",
                )
            )
        started = time.perf_counter()
        embedded_class("articles").bulk_upsert(with_sparse_vectors(chunks))
        load_s = time.perf_counter() - started
        questions = [r["question"] for qa in args.qa for r in load_qa(qa)]
        retriever = ContextRetriever(RetrievalConfig.from_settings())
        started = time.perf_counter()
        retriever.search("warm-up question", k=5)  # loads the embedder
        warmup_s = time.perf_counter() - started
        results = {}
        for label, suffix in (("no author", ""), ("author filter (self-query)", " according to 벤치 저자")):
            totals, stages = [], {}
            for i in range(args.queries):
                retrieval = retriever.retrieve(questions[i % len(questions)] + suffix, k=5)
                totals.append(retrieval.timings_ms["total"])
                for stage, ms in retrieval.timings_ms.items():
                    stages.setdefault(stage, []).append(ms)
            results[label] = {
                "p50_ms": round(statistics.median(totals), 2),
                "p95_ms": round(_p95(totals), 2),
                "stage_p50_ms": {s: round(statistics.median(v), 2) for s, v in stages.items()},
            }
        return {
            "chunks": args.chunks,
            "queries": args.queries,
            "store": "qdrant memory mode",
            "upsert_s": round(load_s, 2),
            "first_query_with_model_load_s": round(warmup_s, 2),
            **results,
            "goal_p95_ms": 100,
        }
    finally:
        close_stores()
        os.environ.pop("QDRANT_PATH", None)
        get_settings.cache_clear()


def service(args, parts) -> dict:
    import httpx
    import uvicorn

    from llm_engineering.application.rag import load_qa
    from llm_engineering.entrypoints.api.app import create_app
    from llm_engineering.settings import get_settings

    app = create_app(get_settings(), warmup=True)
    with socket_port() as port:
        pass
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    started = time.perf_counter()
    thread.start()
    url = f"http://127.0.0.1:{port}"
    while not server.started:
        time.sleep(0.1)
    out: dict = {"service_start_with_warmup_s": round(time.perf_counter() - started, 1)}
    questions = [r["question"] for qa in args.qa for r in load_qa(qa)]
    try:
        if "service" in parts:
            latencies, rates, tokens = [], [], []
            with httpx.Client(base_url=url, timeout=600) as client:
                for question in questions[: args.rag_requests]:
                    t = time.perf_counter()
                    body = client.post("/rag", json={"query": question, "max_tokens": args.max_tokens}).json()
                    latencies.append((time.perf_counter() - t) * 1000)
                    generated = body["usage"]["completion_tokens"]
                    tokens.append(generated)
                    rates.append(generated / (body["latency_ms"]["generation"] / 1000))
            out["service"] = {
                "rag_requests": len(latencies),
                "max_tokens": args.max_tokens,
                "rag_latency_p50_ms": round(statistics.median(latencies), 1),
                "rag_latency_max_ms": round(max(latencies), 1),
                "completion_tokens_mean": round(statistics.mean(tokens), 1),
                "generation_tokens_per_s_median": round(statistics.median(rates), 2),
            }
        if "concurrency" in parts:
            out["concurrency"] = _concurrency(url, questions, args.clients, args.concurrency_rag)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return out


def _concurrency(url: str, questions: list[str], clients: int, rag: bool) -> dict:
    import httpx

    statuses: list[int] = []
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def one(i: int) -> None:
        request = {
            "messages": [{"role": "user", "content": questions[i % len(questions)]}],
            "max_tokens": 4,
            "rag": rag,
        }
        barrier.wait()
        t = time.perf_counter()
        try:
            response = httpx.post(f"{url}/v1/chat/completions", json=request, timeout=600)
            ok = response.status_code == 200 and response.json()["choices"][0]["message"]["content"] is not None
            with lock:
                statuses.append(response.status_code)
                latencies.append(time.perf_counter() - t)
                if not ok:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
        except httpx.HTTPError as exc:
            with lock:
                errors.append(type(exc).__name__)

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": clients,
        "max_tokens": 4,
        "rag": rag,
        "errors": len(errors),
        "error_samples": errors[:3],
        "status_counts": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "wall_s": round(wall, 1),
        "latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "latency_max_s": round(max(latencies), 2) if latencies else None,
    }


class socket_port:
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return self.sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.sock.close()


def _sentences(dump: Path) -> list[str]:
    articles = json.loads((dump / "ArticleDocument.json").read_text(encoding="utf-8"))
    out = []
    for article in articles:
        text = str(article.get("content", {}).get("Content", ""))
        out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 40 < len(s.strip()) < 300)
    korean = ["벡터 검색은 임베딩끼리 가까운 것을 찾는 방법입니다.", "작은 모델을 파인튜닝할 때 학습률이 중요합니다."]
    return out + korean * 50


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
