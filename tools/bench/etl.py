"""ETL benchmark: crawl generated article pages from a local HTTP server into a fresh warehouse,
sequentially and with a thread pool; print pages/s and peak memory as JSON.

    python -m tools.bench etl [--pages 200] [--workers 1,4,8] [--latency-ms 0,50]

``--latency-ms`` makes the server wait before each answer, as a remote site would; with no
latency the crawl is CPU-bound (extraction) and threads help little on a small machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llm_engineering.domain.ports import close_stores

WORDS = (
    "pipeline warehouse crawler article model retrieval token embedding chunk query answer author style "
    "batch failure retry timeout laptop server index document feature training evaluation latency"
).split()
KOREAN = "작은 모델로 검색과 답변을 노트북 한 대에서 모두 돌려 보았습니다".split()


def _article(i: int, rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(6, 12)):
        words = [rng.choice(KOREAN if rng.random() < 0.2 else WORDS) for _ in range(rng.randint(40, 90))]
        paragraphs.append("<p>" + " ".join(words).capitalize() + ".</p>")
    nav = "".join(f'<li><a href="/post-{j}.html">Related post {j}</a></li>' for j in range(10))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Post {i}</title>'
        f'<meta property="article:published_time" content="2024-01-{1 + i % 28:02d}T10:00:00Z"></head>'
        f"<body><header><nav><ul>{nav}</ul></nav></header><main><article><h1>Post number {i}</h1>"
        f"{''.join(paragraphs)}</article></main><footer>© example</footer></body></html>"
    )


SERVER = """
import sys, time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

class Handler(SimpleHTTPRequestHandler):
    def do_GET(self):
        time.sleep(float(sys.argv[3]) / 1000)
        super().do_GET()

    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), partial(Handler, directory=sys.argv[2])).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the benchmark's HTTP server did not start")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench etl", description=__doc__)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--workers", default="1,4,8", help="comma-separated pool sizes (1 = sequential)")
    parser.add_argument("--latency-ms", default="0,50", help="comma-separated server delays per page")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    latencies = [float(x) for x in args.latency_ms.split(",")]

    with tempfile.TemporaryDirectory(prefix="llm_twin_bench_etl_") as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        rng = random.Random(7)
        total_bytes = 0
        for i in range(args.pages):
            html = _article(i, rng)
            total_bytes += len(html.encode("utf-8"))
            (site / f"post-{i}.html").write_text(html, encoding="utf-8")
        runs = []
        for latency in latencies:
            port = _free_port()
            server = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(port), str(site), str(latency)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                _wait(port)
                links = [f"http://127.0.0.1:{port}/post-{i}.html" for i in range(args.pages)]
                group = [_run(Path(tmp) / f"data-{latency:g}-{w}", links, w) for w in workers]
            finally:
                server.terminate()
                server.wait(timeout=10)
            base = next((r for r in group if r["workers"] == 1), group[0])
            for r in group:
                r["latency_ms"] = latency
                r["speedup_vs_sequential"] = round(r["pages_per_s"] / base["pages_per_s"], 2)
            runs.extend(group)
    print(
        json.dumps(
            {
                "benchmark": "etl",
                "pages": args.pages,
                "mean_page_kb": round(total_bytes / args.pages / 1024, 1),
                "cpu_count": os.cpu_count(),
                "runs": runs,
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "note": "local HTTP server in a separate process; fresh warehouse per run; includes extraction "
                "(trafilatura) and SQLite writes",
            },
            indent=2,
        )
    )


def _run(data_dir: Path, links: list[str], workers: int) -> dict:
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["CRAWL_ALLOWED_NETWORKS"] = "127.0.0.1"
    from llm_engineering.application.etl import crawl_links, summarize
    from llm_engineering.domain.documents import ArticleDocument, UserDocument
    from llm_engineering.settings import get_settings

    get_settings.cache_clear()  # the warehouse opens in this DATA_DIR on first use
    user = UserDocument.get_or_create_by_name("Benchmark Author")
    started = time.perf_counter()
    outcomes = crawl_links(user, links, max_workers=workers, progress=False)
    seconds = time.perf_counter() - started
    summary = summarize(outcomes)
    stored = ArticleDocument.count()
    close_stores()
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "pages_per_s": round(len(links) / seconds, 1),
        "ok": summary["ok"],
        "failed": summary["failed"],
        "stored": stored,
        "peak_rss_mb_so_far": round(_peak_rss_mb(), 1),
    }
