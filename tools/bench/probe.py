"""Hardening probe: hostile-but-fair cases against the service, the crawler, settings and the
warehouse import, on loopback only; prints a table and JSON.

    python -m tools.bench probe [--skip-service] [--concurrency 50] [--timeout-s 600]

Every address it connects to is on 127.0.0.0/8: the service it starts, the HTTP servers it
starts, and nothing else (a guard refuses any other connection before a packet is sent, and
counts it). The service runs in a child process with the in-process base model (SmolLM2-135M,
transformers backend) and an API key, in a temporary DATA_DIR; its memory is read before and
after the cases.

A case *fails* when the answer is not the expected one, *crashes* when the service answers 500,
dies or the probe sees an unexpected exception, and *leaks* when an answer holds the API key, a
stack trace or a path of the server's disk. Warehouse cases compare every collection before and
after: rows lost or duplicated are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from llm_engineering.bootstrap import bootstrap
from llm_engineering.domain.ports import close_stores
from tools.bench import ROOT

API_KEY = "probe-secret-7c1f09"
LEAK_MARKERS = ("Traceback", 'File "', API_KEY, "file://", "/tmp/", "/home/", "/root/", str(ROOT))
LONG_QUESTION = "Write a long, detailed story about a lighthouse keeper and the sea."


@dataclass
class Tally:
    cases: int = 0
    failures: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    rows_lost: int = 0
    rows_duplicated: int = 0
    by_group: Counter = field(default_factory=Counter)
    figures: dict = field(default_factory=dict)

    def case(self, group: str, name: str, ok: bool, crash: bool = False, leak: bool = False) -> None:
        self.cases += 1
        self.by_group[group] += 1
        if crash:
            self.crashes.append(f"{group}: {name}")
        elif not ok:
            self.failures.append(f"{group}: {name}")
        if leak:
            self.leaks.append(f"{group}: {name}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- the service ----------------------------------------------------------------------------
SERVE = """
import sys, uvicorn
from llm_engineering.bootstrap import bootstrap
from llm_engineering.entrypoints.api.app import create_app
from llm_engineering.settings import get_settings
bootstrap()
uvicorn.run(create_app(get_settings(), rag_by_default=False, warmup=True), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="error")
"""


class Service:
    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "API_KEY": API_KEY,
            "SERVICE_MAX_TOKENS_LIMIT": "512",
            "SERVICE_MAX_QUEUE": "64",
            "LLM_BACKEND": "transformers",
            "LLM_BASE_URL": "",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        cache = Path(tempfile.gettempdir()) / "llm_twin_test_models"
        if "MODEL_CACHE_DIR" not in env and cache.is_dir():
            env["MODEL_CACHE_DIR"] = str(cache)
        self.log = open(data_dir / "service.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(self.port)], cwd=data_dir, env=env, stdout=self.log, stderr=self.log
        )

    def wait(self, seconds: float = 300) -> None:
        import httpx

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited ({self.proc.returncode}); see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("the service did not start in time")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _chat(content: str = "Say hi.", **extra) -> dict:
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 1, **extra}


def _service_cases(rng: random.Random) -> list[tuple[str, str, str, dict, int | tuple[int, ...]]]:
    """(name, method, path, request options, expected status) for one client each."""
    cases: list = []
    # stop strings: count x length; the valid ones generate one token
    for count in (1, 2, 3, 4, 5, 8):
        for length in (1, 8, 16, 31, 32, 33, 64, 200, 3000):
            stops = ["".join(rng.choice("abcxyz#\n ") for _ in range(length)) for _ in range(count)]
            expected = 422 if count > 4 or length > 32 else 200
            cases.append(
                (f"stop {count}x{length}", "POST", "/v1/chat/completions", {"json": _chat(stop=stops)}, expected)
            )
    cases.append(("stop as one string", "POST", "/v1/chat/completions", {"json": _chat(stop="END")}, 200))
    cases.append(("stop 40 KB string", "POST", "/v1/chat/completions", {"json": _chat(stop="s" * 40_000)}, 422))
    # the prompt against the context (8,192 tokens for SmolLM2): refused before any generation
    for words, max_tokens in ((9_000, 1), (12_000, 16), (7_900, 512), (8_150, 64), (13_000, 1)):
        body = {"messages": [{"role": "user", "content": "tok " * words}], "max_tokens": max_tokens}
        cases.append((f"prompt {words} words + {max_tokens}", "POST", "/v1/chat/completions", {"json": body}, 400))
        stream = {**body, "stream": True}
        cases.append(
            (f"stream prompt {words} words + {max_tokens}", "POST", "/v1/chat/completions", {"json": stream}, 400)
        )
    # malformed and wrong bodies
    raw_bodies = [
        b"",
        b"{",
        b'{"messages": ',
        b"[]",
        b"null",
        b"42",
        b'"text"',
        b'{"messages": "hi"}',
        b"\xff\xfe\x00",
        b'{"messages": [{"role": "user"}]}',
        b'{"messages": [{"content": "x"}]}',
        b"{" * 5000,
        b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}',
    ]
    for i, raw in enumerate(raw_bodies):
        for path in ("/v1/chat/completions", "/rag"):
            cases.append(
                (
                    f"raw body {i} {path}",
                    "POST",
                    path,
                    {"content": raw, "headers": {"content-type": "application/json"}},
                    (400, 422),
                )
            )
    bad_json = [
        ({"messages": []}, 422),
        ({"messages": [{"role": "robot", "content": "x"}]}, 422),
        ({"messages": [{"role": "assistant", "content": "x"}]}, 422),
        (_chat(max_tokens=0), 422),
        (_chat(max_tokens=-5), 422),
        (_chat(max_tokens=10**9), 422),
        (_chat(max_tokens=513), 422),
        (_chat(temperature=-1), 422),
        (_chat(temperature=9), 422),
        (_chat(top_p=0), 422),
        (_chat(top_p=2), 422),
        (_chat(k=0), 422),
        (_chat(k=10_000), 422),
        (_chat(model="gpt-9"), 404),
        (_chat(author="x" * 300), 422),
        (_chat(stream_options={"include_usage": "maybe"}), 422),
        (_chat(content="   "), 422),
        (_chat(content="\u0000\u2028 hi \U0001f600 안녕"), 200),
        (_chat(max_completion_tokens=2), 200),
        (_chat(stream=True), 200),
        (_chat(stream=True, stream_options={"include_usage": True}), 200),
    ]
    for i, (body, expected) in enumerate(bad_json):
        cases.append((f"chat body {i}", "POST", "/v1/chat/completions", {"json": body}, expected))
    rag_bodies = [
        ({"query": ""}, 422),
        ({"query": "  "}, 422),
        ({"query": "x", "k": 0}, 422),
        ({"query": "x", "k": 51}, 422),
        ({"query": "x", "max_tokens": 513}, 422),
        ({"query": "x", "extra": 1}, 422),
        ({"query": 5}, 422),
        ({"query": "x", "author": "Nobody Known"}, 422),
        ({}, 422),
        ({"query": "x", "temperature": 3}, 422),
    ]
    for i, (body, expected) in enumerate(rag_bodies):
        cases.append((f"rag body {i}", "POST", "/rag", {"json": body}, expected))
    # sizes: bodies and headers
    for size in (70_000, 200_000, 2_000_000):
        cases.append(
            (
                f"body {size} B",
                "POST",
                "/v1/chat/completions",
                {"content": b"x" * size, "headers": {"content-type": "application/json"}},
                413,
            )
        )
    for size in (1_000, 4_000, 8_000, 12_000, 15_000, 16_500, 17_000, 32_000, 100_000):
        expected = 200 if size < 16_000 else 431
        cases.append((f"header {size} B", "GET", "/v1/models", {"headers": {"X-Fill": "h" * size}}, expected))
        cases.append(
            (
                f"{size} B header, no key",
                "POST",
                "/rag",
                {"headers": {"X-Fill": "h" * size}, "auth": False, "content": b"{"},
                431 if size >= 16_000 else 401,
            )
        )
    # the key, checked before anything is read
    for path in ("/rag", "/v1/chat/completions", "/v1/models", "/v1/traces", "/metrics", "/nowhere"):
        for name, headers in (
            ("none", {}),
            ("wrong", {"Authorization": "Bearer nope"}),
            ("basic", {"Authorization": f"Basic {API_KEY}"}),
            ("prefix", {"Authorization": f"Bearer {API_KEY[:-1]}"}),
            ("empty", {"Authorization": "Bearer"}),
            ("longer", {"Authorization": f"Bearer {API_KEY}x"}),
            ("other header", {"X-Api-Key": API_KEY}),
            ("no scheme", {"Authorization": API_KEY}),
        ):
            method = "POST" if path in ("/rag", "/v1/chat/completions") else "GET"
            options = {"auth": False, "headers": headers}
            if method == "POST":
                options["content"] = b'{"query": '  # malformed: still 401, not 400
            cases.append((f"key {name} {path}", method, path, options, 401))
    for name, value in (("lower-case scheme", f"bearer {API_KEY}"), ("spaces", f"Bearer   {API_KEY}")):
        cases.append((f"key {name}", "GET", "/v1/models", {"auth": False, "headers": {"Authorization": value}}, 200))
    odd_texts = [
        "\u202eright-to-left\u202c",
        "zero\u200bwidth",
        "😀" * 200,
        "tab\tand\r\nnewlines",
        "<b>x</b>",
        "%s %n {0}",
    ]
    for i, text in enumerate(odd_texts):
        cases.append((f"odd text {i}", "POST", "/v1/chat/completions", {"json": _chat(content=text)}, 200))
    rag_extra = (
        ({"query": "x", "k": "three"}, 422),
        ({"query": "word " * 14_000}, 413),
        ({"query": ["x"]}, 422),
        ({"query": "x", "max_tokens": 0}, 422),
    )
    for i, (body, expected) in enumerate(rag_extra):
        cases.append((f"rag body extra {i}", "POST", "/rag", {"json": body}, expected))
    for path, expected in (("/health", 200), ("/", 200), ("/openapi.json", 200)):
        cases.append((f"open {path}", "GET", path, {"auth": False}, expected))
    # traces and other reads
    for limit, expected in (
        ("1", 200),
        ("500", 200),
        ("0", 422),
        ("501", 422),
        ("-1", 422),
        ("abc", 422),
        ("1e9", 422),
    ):
        cases.append((f"traces limit={limit}", "GET", f"/v1/traces?limit={limit}", {}, expected))
    for path, expected in (("/v1/models", 200), ("/metrics", 200), ("/v1/nothing", 404), ("/rag", 405)):
        cases.append((f"GET {path}", "GET", path, {}, expected))
    return cases


def _request(client, url: str, method: str, path: str, options: dict):
    options = dict(options)
    headers = dict(options.pop("headers", {}))
    if options.pop("auth", True):
        headers.update(AUTH)
    return client.request(method, url + path, headers=headers, timeout=120, **options)


def _leaky(text: str, data_dir: Path) -> bool:
    return any(marker in text for marker in (*LEAK_MARKERS, str(data_dir)))


def probe_service(tally: Tally, data_dir: Path, concurrency: int, rng: random.Random, passes: int = 1) -> None:
    import httpx

    service = Service(data_dir)
    try:
        service.wait()
        with httpx.Client() as client:
            _request(client, service.url, "POST", "/v1/chat/completions", {"json": _chat()})  # first generation
            baseline = _rss_mb(service.proc.pid)
            tally.figures["service_rss_baseline_mb"] = round(baseline, 1)
            cases = _service_cases(rng)
            for round_ in range(1, passes + 1):
                for name, method, path, options, expected in cases:
                    expected = expected if isinstance(expected, tuple) else (expected,)
                    try:
                        response = _request(client, service.url, method, path, options)
                    except httpx.HTTPError as exc:
                        tally.case("service", f"{name}: {type(exc).__name__}", ok=False, crash=not service.alive())
                        continue
                    crash = response.status_code >= 500 or not service.alive()
                    tally.case(
                        "service",
                        f"{name}: got {response.status_code}",
                        ok=response.status_code in expected,
                        crash=crash,
                        leak=_leaky(response.text, data_dir),
                    )
                tally.figures[f"service_rss_after_pass_{round_}_mb"] = round(_rss_mb(service.proc.pid), 1)
            _probe_paths(tally, client, service, data_dir)
            _probe_traces(tally, client, service, data_dir)
            _probe_abandoned(tally, client, service)
            _probe_concurrency(tally, service, concurrency)
            time.sleep(1)
            after = _rss_mb(service.proc.pid)
            tally.figures["service_rss_after_mb"] = round(after, 1)
            tally.figures["service_rss_growth_mb"] = round(after - baseline, 1)
            tally.case("service", f"memory back within 50 MB ({after - baseline:+.0f} MB)", ok=after - baseline <= 50)
    finally:
        service.stop()


def _probe_paths(tally: Tally, client, service: Service, data_dir: Path) -> None:
    """A trace whose chunk is a local file: the API names the file, never its path."""
    os.environ["DATA_DIR"] = str(data_dir)
    _reset_stores()
    from llm_engineering.domain.queries import PromptTrace

    secret_path = f"file://{data_dir}/private/notes%20v2.md"
    PromptTrace(
        endpoint="/rag", query="notes?", chunks=[{"link": secret_path}], prompt=f"[1] Notes ({secret_path})"
    ).save()
    response = _request(client, service.url, "GET", "/v1/traces?limit=5", {})
    tally.case(
        "service",
        "trace with a local file names it only",
        ok=response.status_code == 200 and "notes v2.md" in response.text,
        leak=_leaky(response.text, data_dir),
    )


def _probe_traces(tally: Tally, client, service: Service, data_dir: Path) -> None:
    """limit=1 stays fast however many traces are stored."""
    from llm_engineering.domain.queries import PromptTrace

    PromptTrace.bulk_insert([PromptTrace(endpoint="/rag", query=f"q{i}", prompt="p" * 2000) for i in range(20_000)])
    started = time.perf_counter()
    response = _request(client, service.url, "GET", "/v1/traces?limit=1", {})
    seconds = time.perf_counter() - started
    tally.figures["traces_limit_1_at_20k_s"] = round(seconds, 3)
    tally.case("service", f"traces limit=1 of 20k in {seconds:.2f}s", ok=response.status_code == 200 and seconds < 0.5)


def _probe_abandoned(tally: Tally, client, service: Service) -> None:
    """20 requests and 20 streams given up at once: the next request does not wait for them."""
    import httpx

    long = {"messages": [{"role": "user", "content": LONG_QUESTION}], "max_tokens": 400}

    def give_up():
        try:
            httpx.post(f"{service.url}/v1/chat/completions", json=long, headers=AUTH, timeout=0.3)
        except httpx.TimeoutException:
            pass

    def close_stream():
        with httpx.stream(
            "POST", f"{service.url}/v1/chat/completions", json={**long, "stream": True}, headers=AUTH, timeout=60
        ) as response:
            next(response.iter_lines(), None)

    for label, action in (("requests", give_up), ("streams", close_stream)):
        threads = [threading.Thread(target=action) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        started = time.perf_counter()
        response = _request(client, service.url, "POST", "/v1/chat/completions", {"json": _chat()})
        waited = time.perf_counter() - started
        tally.figures[f"next_request_after_20_abandoned_{label}_s"] = round(waited, 2)
        tally.case(
            "service",
            f"20 abandoned {label}: next answered in {waited:.1f}s",
            ok=response.status_code == 200 and waited < 30,
        )
        pending = _request(client, service.url, "GET", "/health", {}).json()["queue"]["pending"]
        tally.case("service", f"queue empty after abandoned {label} ({pending})", ok=pending == 0)
    traces = _request(client, service.url, "GET", "/v1/traces?limit=60", {}).json()["data"]
    cancelled = sum(t["status"] == "cancelled" for t in traces)
    tally.figures["traces_cancelled_of_40_abandoned"] = cancelled
    tally.case("service", f"abandoned work traced cancelled ({cancelled} of 40)", ok=cancelled >= 30)


def _probe_concurrency(tally: Tally, service: Service, clients: int) -> None:
    import httpx

    errors: list[str] = []

    def one(i: int) -> None:
        try:
            with httpx.Client(base_url=service.url, headers=AUTH, timeout=300) as c:
                for path in ("/health", "/v1/models"):
                    if c.get(path).status_code != 200:
                        errors.append(f"{i} {path}")
                r = c.post("/v1/chat/completions", json=_chat(content=f"Say {i}."))
                if r.status_code != 200:
                    errors.append(f"{i} chat {r.status_code}")
        except httpx.HTTPError as exc:
            errors.append(f"{i} {type(exc).__name__}")

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    tally.figures["concurrent_clients"] = clients
    tally.figures["concurrent_errors"] = len(errors)
    tally.figures["concurrent_seconds"] = round(time.perf_counter() - started, 1)
    tally.case(
        "service", f"{clients} concurrent clients: {len(errors)} errors", ok=not errors, crash=not service.alive()
    )


# ---- the crawler ----------------------------------------------------------------------------
class _Guard:
    """Refuses, unsent, every connection that is not to 127.0.0.1; records what was tried."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.original = socket.create_connection

    def __enter__(self) -> _Guard:
        def guarded(address, *args, **kwargs):
            self.attempts.append(str(address[0]))
            if address[0] not in ("127.0.0.1", "::ffff:7f00:1", "::ffff:127.0.0.1"):
                raise ConnectionRefusedError(f"probe guard: no connection to {address[0]}")
            return self.original(address, *args, **kwargs)

        socket.create_connection = guarded
        return self

    def __exit__(self, *exc) -> None:
        socket.create_connection = self.original


class _Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    redirects: dict[str, str] = {}

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/to/"):
            target = self.redirects[self.path]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            return
        body = b"<html><body><article><p>" + b"A page on loopback. " * 40 + b"</p></article></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


INWARD = [
    "127.0.0.1",
    "127.0.0.2",
    "127.1",
    "2130706433",
    "0x7f000001",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "10.0.0.1",
    "192.168.1.1",
    "172.16.0.1",
    "100.64.0.1",
    "169.254.169.254",
    "[fd00:ec2::254]",
    "100.100.100.200",
    "[fe80::1]",
    "0.0.0.0",
    "[fd12::1]",
    "[::ffff:169.254.169.254]",
]
LOOPBACK_ALIASES = {"127.1", "2130706433", "0x7f000001", "[::ffff:127.0.0.1]"}
METADATA = {"169.254.169.254", "[fd00:ec2::254]", "100.100.100.200", "[fe80::1]", "[::ffff:169.254.169.254]"}


def probe_crawler(tally: Tally) -> None:
    from llm_engineering.infrastructure.http import Fetcher, FetchError
    from llm_engineering.settings import load_settings

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    port = httpd.server_address[1]

    def settings(allowed: str, **extra):
        return load_settings(
            CRAWL_ALLOWED_NETWORKS=allowed, CRAWL_RETRIES=1, CRAWL_TIMEOUT_S=3, CRAWL_BACKOFF_S=0.01, **extra
        )

    def attempt(url: str, allowed: str, **extra) -> tuple[str | None, list[str]]:
        """The fetch's error (None when it succeeded) and the addresses it tried to connect to."""
        with _Guard() as guard, Fetcher(settings(allowed, **extra)) as fetcher:
            try:
                fetcher.fetch(url)
                return None, guard.attempts
            except FetchError as exc:
                return str(exc), guard.attempts

    def expect_refused(name: str, url: str, allowed: str, must_match: str = "refused") -> None:
        try:
            error, tried = attempt(url, allowed)
        except Exception as exc:  # noqa: BLE001 - counted as a crash of the case
            tally.case("crawler", f"{name}: {type(exc).__name__}", ok=False, crash=True)
            return
        inward = [a for a in tried if a != "127.0.0.1"]
        ok = error is not None and must_match in error and not inward
        tally.case("crawler", f"{name} (tried {inward or 'nothing inward'})", ok=ok)

    # direct inward targets, with no allow-list and with wide ones that still exclude metadata
    for host in INWARD:
        expect_refused(f"direct {host}", f"http://{host}:{port}/", "", "refused")
        if host in METADATA:
            expect_refused(f"direct {host}, all allowed", f"http://{host}:{port}/", "0.0.0.0/0,::/0", "cloud metadata")
            expect_refused(
                f"direct {host}, its range listed",
                f"http://{host}:{port}/",
                "169.254.0.0/16,fd00::/8,fe80::/10,100.64.0.0/10",
                "cloud metadata",
            )
    # redirects from an allowed loopback page inward
    _Pages.redirects = {f"/to/{i}": f"http://{host}:{port}/" for i, host in enumerate(INWARD) if host != "127.0.0.1"}
    for path, target in _Pages.redirects.items():
        if target.split("//")[1].rsplit(":", 1)[0] in LOOPBACK_ALIASES:  # 127.0.0.1 by another name: listed
            error, tried = attempt(base + path, "127.0.0.1/32")
            ok = error is None or "refused" not in error
            tally.case("crawler", f"redirect to {target} (127.0.0.1 itself) allowed", ok=ok)
        else:
            expect_refused(f"redirect to {target}", base + path, "127.0.0.1/32")
    # other spellings of loopback, refused without a listing
    for host in ("[0:0:0:0:0:0:0:1]", "[::]", "127.000.000.001", "017700000001", "localhost", "LOCALHOST."):
        expect_refused(f"direct {host}", f"http://{host}:{port}/", "", "")
    # an allowed address is fetched (the allow-list works)
    with _Guard(), Fetcher(settings("127.0.0.1")) as fetcher:
        tally.case("crawler", "listed loopback is fetched", ok="loopback" in fetcher.fetch(base + "/").text)
    # DNS rebinding: public for the check, loopback afterwards
    original = socket.getaddrinfo
    for first in ("93.184.216.34", "8.8.8.8", "1.1.1.1"):
        answers = iter([first] + ["127.0.0.1"] * 50)

        def rebinding(host, p, *args, _answers=answers, **kwargs):
            if host == "rebind.probe":
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(_answers), p))]
            return original(host, p, *args, **kwargs)

        socket.getaddrinfo = rebinding
        try:  # the checked public address is the one connected to (the guard refuses it, unsent)
            error, tried = attempt(f"http://rebind.probe:{port}/", "")
        finally:
            socket.getaddrinfo = original
        tally.case(
            "crawler", f"rebinding {first} then loopback: tried {tried}", ok=error is not None and tried == [first]
        )
    # a body trickling in: ended by the deadline, not by the read timeout
    for deadline in (0.5, 1.0, 2.0):
        started = time.monotonic()
        with _Guard(), Fetcher(settings("127.0.0.1", CRAWL_DEADLINE_S=deadline)) as fetcher:
            try:
                fetcher.fetch(base + "/trickle")
                ok = False
            except FetchError as exc:
                ok = "CRAWL_DEADLINE_S" in str(exc)
        took = time.monotonic() - started
        tally.case("crawler", f"trickle, deadline {deadline}s: {took:.1f}s", ok=ok and took < deadline + 1.0)
    httpd.shutdown()
    httpd.server_close()


# ---- settings and configs -------------------------------------------------------------------
def probe_settings(tally: Tally) -> None:
    from llm_engineering.exceptions import ConfigurationError
    from llm_engineering.settings import load_settings

    bad = ["10.0.0.0/33", "300.1.1.1", "host name", "http://x", "a/b/c", "::1/129", "*", "10.0.0.1;rm"]
    for value in bad:
        try:
            load_settings(CRAWL_ALLOWED_NETWORKS=f"127.0.0.1,{value}")
            ok = False
        except ConfigurationError as exc:
            ok = "CRAWL_ALLOWED_NETWORKS" in str(exc)
        tally.case("settings", f"allow-list item {value!r}", ok=ok)
    for value in ("", "127.0.0.1", "wiki.internal, 10.2.0.0/16", "::1,fd00::/8"):
        try:
            load_settings(CRAWL_ALLOWED_NETWORKS=value)
            ok = True
        except ConfigurationError:
            ok = False
        tally.case("settings", f"allow-list {value!r} accepted", ok=ok)
    for name, value in (("SERVICE_MAX_HEADER_BYTES", "10"), ("CRAWL_DEADLINE_S", "0"), ("CRAWL_DEADLINE_S", "soon")):
        try:
            load_settings(**{name: value})
            ok = False
        except ConfigurationError as exc:
            ok = name in str(exc) and value not in str(exc).split(name, 1)[0]
        tally.case("settings", f"{name}={value!r}", ok=ok)


# ---- the warehouse import -------------------------------------------------------------------
KILL = """
import os, signal, sys
from llm_engineering.application.warehouse import import_warehouse
from llm_engineering.bootstrap import bootstrap
from llm_engineering.domain import documents
bootstrap()

target = getattr(documents, sys.argv[2])
original = target.bulk_upsert.__func__

def upsert(cls, docs):
    if cls is target:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(cls, docs)

for cls in (documents.UserDocument, documents.ArticleDocument, documents.PostDocument, documents.RepositoryDocument):
    cls.bulk_upsert = classmethod(upsert)
import_warehouse(sys.argv[1])
"""


def _reset_stores() -> None:
    from llm_engineering.settings import get_settings

    close_stores()
    get_settings.cache_clear()


def _snapshot() -> dict[str, list[str]]:
    from llm_engineering.domain.base.nosql import DOCUMENT_CLASSES

    return {
        name: sorted(json.dumps(d.to_mongo(), sort_keys=True) for d in cls.bulk_find())
        for name, cls in DOCUMENT_CLASSES.items()
        if name in ("UserDocument", "ArticleDocument", "PostDocument", "RepositoryDocument")
    }


def _dump(folder: Path, user_id: str, name: str, articles: int, posts: int, offset: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "UserDocument.json").write_text(json.dumps([{"full_name": name, "_id": user_id}]))
    arts = [
        {
            "content": {"Title": f"T{i}", "Content": f"Body {i} 본문"},
            "platform": "blog",
            "author_id": user_id,
            "author_full_name": name,
            "link": f"https://blog.example/{user_id[:4]}/{i}",
            "_id": f"{user_id[:8]}-0000-4000-8000-{i + offset:012d}",
        }
        for i in range(articles)
    ]
    (folder / "ArticleDocument.json").write_text(json.dumps(arts, ensure_ascii=False))
    post_docs = [
        {
            "content": {"Content": f"post {i}"},
            "platform": "linkedin",
            "author_id": user_id,
            "author_full_name": name,
            "_id": f"{user_id[:8]}-1111-4000-8000-{i:012d}",
        }
        for i in range(posts)
    ]
    (folder / "PostDocument.json").write_text(json.dumps(post_docs))


def _count_rows(before: dict, after: dict, expected_added: dict[str, int]) -> tuple[int, int]:
    lost = duplicated = 0
    for name in before:
        missing = len(set(before[name]) - set(after[name]))
        extra = len(after[name]) - len(before[name]) - expected_added.get(name, 0)
        lost += missing
        duplicated += max(0, extra)
        lost += max(0, -extra) if not missing else 0
    return lost, duplicated


def probe_warehouse(tally: Tally, root: Path) -> None:
    from llm_engineering.application.warehouse import export_warehouse, import_warehouse
    from llm_engineering.exceptions import ImportFileError

    a_id, b_id = "2f0c1d7e-0000-4000-8000-00000000abcd", "7d1d3a52-0000-4000-8000-00000000beef"
    for state in ("empty", "populated"):
        for kill_at in ("UserDocument", "ArticleDocument", "PostDocument"):
            data = root / f"wh-{state}-{kill_at}"
            os.environ["DATA_DIR"] = str(data)
            _reset_stores()
            if state == "populated":
                _dump(root / f"seed-{state}-{kill_at}", a_id, "Jane Writer", 5, 2)
                import_warehouse(root / f"seed-{state}-{kill_at}")
            before = _snapshot()
            _dump(root / f"dump-{state}-{kill_at}", b_id, "Dana Kim", 30, 5)
            env = {**os.environ, "DATA_DIR": str(data)}
            killed = subprocess.run(
                [sys.executable, "-c", KILL, str(root / f"dump-{state}-{kill_at}"), kill_at],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            _reset_stores()
            after = _snapshot()
            lost, duplicated = _count_rows(before, after, {})
            tally.rows_lost += lost
            tally.rows_duplicated += duplicated
            tally.case(
                "warehouse",
                f"kill -9 at {kill_at} ({state}): {'unchanged' if after == before else 'CHANGED'}",
                ok=killed.returncode == -9 and after == before,
            )
            report = import_warehouse(root / f"dump-{state}-{kill_at}")
            complete = _snapshot()
            lost, duplicated = _count_rows(
                before, complete, {"UserDocument": 1, "ArticleDocument": 30, "PostDocument": 5}
            )
            tally.rows_lost += lost
            tally.rows_duplicated += duplicated
            tally.case(
                "warehouse",
                f"re-import after kill at {kill_at} ({state})",
                ok=not lost and not duplicated and report.inserted["ArticleDocument"] == 30,
            )
    # refusals that must leave everything as it was
    data = root / "wh-refusals"
    os.environ["DATA_DIR"] = str(data)
    _reset_stores()
    _dump(root / "base", a_id, "Jane Writer", 10, 3)
    import_warehouse(root / "base")

    def variant(name: str, edit: Callable[[list, list], None], message: str) -> None:
        folder = root / f"variant-{name}"
        _dump(folder, a_id, "Jane Writer", 10, 3)
        articles = json.loads((folder / "ArticleDocument.json").read_text())
        users = json.loads((folder / "UserDocument.json").read_text())
        edit(articles, users)
        (folder / "ArticleDocument.json").write_text(json.dumps(articles, ensure_ascii=False))
        (folder / "UserDocument.json").write_text(json.dumps(users))
        before = _snapshot()
        try:
            import_warehouse(folder)
            ok = not message
        except ImportFileError as exc:
            ok = bool(message) and message in str(exc)
        after = _snapshot()
        lost, duplicated = _count_rows(before, after, {})
        tally.rows_lost += lost if message else 0
        tally.rows_duplicated += duplicated if message else 0
        tally.case("warehouse", f"{name}", ok=ok and (after == before or not message))

    def steal(i: int, j: int):
        def edit(articles, users):
            articles[i]["link"] = f"https://elsewhere.example/{j}"

        return edit

    for i in range(5):
        variant(f"_id {i} under another link", steal(i, i), "is already stored with link=")

    def unknown_author(articles, users):
        articles[3]["author_id"] = "99999999-0000-4000-8000-000000000000"

    variant("unknown author_id", unknown_author, "names no user")

    def duplicate_link(articles, users):
        articles[4]["link"] = articles[2]["link"] + "/"

    variant("duplicate link in a file", duplicate_link, "share link")

    def same_again(articles, users):
        pass

    variant("the same dump again", same_again, "")
    for name, text in (("corrupt JSON", "[{oops"), ("not a list", "{}"), ("bad item", "[1]"), ("not UTF-8", None)):
        folder = root / f"broken-{name.replace(' ', '-')}"
        _dump(folder, a_id, "Jane Writer", 3, 1)
        if text is None:
            (folder / "PostDocument.json").write_bytes(b"\xff\xfe[")
        else:
            (folder / "PostDocument.json").write_text(text)
        before = _snapshot()
        try:
            import_warehouse(folder)
            ok = False
        except ImportFileError:
            ok = True
        tally.case("warehouse", f"{name} imports nothing", ok=ok and _snapshot() == before)
    # round trip: export then import into an empty warehouse
    before = _snapshot()
    export_warehouse(root / "export")
    os.environ["DATA_DIR"] = str(root / "wh-roundtrip")
    _reset_stores()
    import_warehouse(root / "export")
    after = _snapshot()
    lost, duplicated = _count_rows(before, after, {})
    tally.rows_lost += lost
    tally.rows_duplicated += duplicated
    tally.case("warehouse", "export then import round trip", ok=after == before)


# ---- report ---------------------------------------------------------------------------------
def _table(tally: Tally, seconds: float) -> str:
    rows = [
        ("cases tried", tally.cases),
        ("failures", len(tally.failures)),
        ("crashes", len(tally.crashes)),
        ("leaks", len(tally.leaks)),
        ("rows lost", tally.rows_lost),
        ("rows duplicated", tally.rows_duplicated),
        *((f"  {group} cases", n) for group, n in sorted(tally.by_group.items())),
        *((k, v) for k, v in tally.figures.items()),
        ("seconds", round(seconds, 1)),
    ]
    return "\n".join(f"{name:<44} {value}" for name, value in rows)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench probe", description=__doc__)
    parser.add_argument("--skip-service", action="store_true", help="Leave out the service cases (no model).")
    parser.add_argument("--concurrency", type=int, default=50, help="Clients at once in the concurrency case.")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--passes", type=int, default=1, help="Times the service cases run (memory per pass).")
    args = parser.parse_args(argv)
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    rng = random.Random(args.seed)
    tally = Tally()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llm-twin-probe-") as folder:
        root = Path(folder)
        os.environ["DATA_DIR"] = str(root / "probe-data")
        _reset_stores()
        for name, run in (
            ("settings", lambda: probe_settings(tally)),
            ("crawler", lambda: probe_crawler(tally)),
            ("warehouse", lambda: probe_warehouse(tally, root)),
            *(
                ()
                if args.skip_service
                else (("service", lambda: probe_service(tally, root / "service", args.concurrency, rng, args.passes)),)
            ),
        ):
            print(f"probe: {name} …", file=sys.stderr, flush=True)
            (root / "service").mkdir(exist_ok=True)
            try:
                run()
            except Exception as exc:  # noqa: BLE001 - one group's crash is reported, the others run
                tally.case(name, f"probe group stopped: {type(exc).__name__}: {exc}", ok=False, crash=True)
            _reset_stores()
    seconds = time.perf_counter() - started
    print(_table(tally, seconds), file=sys.stderr)
    print(
        json.dumps(
            {
                "cases": tally.cases,
                "failures": len(tally.failures),
                "crashes": len(tally.crashes),
                "leaks": len(tally.leaks),
                "rows_lost": tally.rows_lost,
                "rows_duplicated": tally.rows_duplicated,
                "cases_by_group": dict(tally.by_group),
                "figures": tally.figures,
                "failed_cases": tally.failures,
                "crashed_cases": tally.crashes,
                "leaking_cases": tally.leaks,
                "seconds": round(seconds, 1),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    bootstrap()
    main(sys.argv[1:])
