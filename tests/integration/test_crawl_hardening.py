"""A crawl cannot be steered inward (DNS rebinding, redirects to metadata) nor held past its deadline.

Every connection of these tests goes to 127.0.0.1: a guard refuses any other address before a
packet is sent, and records what was attempted.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "crawl"))

from crawl_helpers import HTML, FixtureServer, crawl_settings, page  # noqa: E402

from llm_engineering.infrastructure.http import Fetcher, FetchError  # noqa: E402


@pytest.fixture
def attempts(monkeypatch):
    """Connections the crawler tried; any address other than 127.0.0.1 is refused unsent."""
    tried: list[str] = []
    original = socket.create_connection

    def guarded(address, *args, **kwargs):
        host = address[0]
        tried.append(host)
        if host not in ("127.0.0.1", "localhost", "rebind.test"):
            raise ConnectionRefusedError(f"test guard: no connection to {host}")
        return original(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return tried


@pytest.fixture
def server():
    routes = {
        "/article": page("blog_article.html"),
        "/to-metadata": lambda h: (302, HTML, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}),
    }
    with FixtureServer(routes) as srv:
        yield srv


def test_a_name_that_rebinds_to_loopback_after_the_check_is_not_fetched(server, attempts, monkeypatch):
    original = socket.getaddrinfo
    answers = iter(["93.184.216.34"] + ["127.0.0.1"] * 20)  # public for the check, loopback after

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return original(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    route = server.routes["/article"]
    url = server.url("/article").replace("127.0.0.1", "rebind.test")
    with Fetcher(crawl_settings(CRAWL_ALLOWED_NETWORKS="", CRAWL_RETRIES=1)) as fetcher:
        with pytest.raises(FetchError):
            fetcher.fetch(url)
    assert route.hits == 0  # nothing was read from loopback
    assert attempts == ["93.184.216.34"]  # the checked address, refused by the guard


def test_a_redirect_to_cloud_metadata_is_refused_even_when_its_range_is_listed(server, attempts):
    settings = crawl_settings(CRAWL_ALLOWED_NETWORKS="127.0.0.1,169.254.0.0/16", CRAWL_RETRIES=1)
    with Fetcher(settings) as fetcher, pytest.raises(FetchError, match="cloud metadata"):
        fetcher.fetch(server.url("/to-metadata"))
    assert attempts == ["127.0.0.1"]


def test_only_the_listed_address_is_reachable(server, attempts):
    with Fetcher(crawl_settings(CRAWL_ALLOWED_NETWORKS="127.0.0.2")) as fetcher:
        with pytest.raises(FetchError, match="CRAWL_ALLOWED_NETWORKS"):
            fetcher.fetch(server.url("/article"))
    with Fetcher(crawl_settings(CRAWL_ALLOWED_NETWORKS="127.0.0.0/8")) as fetcher:
        assert "<html" in fetcher.fetch(server.url("/article")).text.lower()
    assert attempts == ["127.0.0.1"]


class _Trickle(BaseHTTPRequestHandler):
    """Sends headers, then one byte every 0.2 s for up to 10 s."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", HTML)
        self.send_header("Content-Length", "50")
        self.end_headers()
        try:
            for _ in range(50):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass


def test_a_body_trickling_in_ends_at_the_deadline(attempts):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    settings = crawl_settings(CRAWL_TIMEOUT_S=3.0, CRAWL_DEADLINE_S=1.0)
    started = time.monotonic()
    try:
        with Fetcher(settings) as fetcher, pytest.raises(FetchError, match="CRAWL_DEADLINE_S=1s"):
            fetcher.fetch(url)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert time.monotonic() - started < 2.0  # every read is short, the whole fetch is capped
