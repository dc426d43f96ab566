"""Safe, polite HTTP fetching for the crawlers.

Every request has a timeout, a user agent and a response size cap; transient failures (HTTP 5xx and
429, timeouts, dropped connections) are retried with exponential backoff (tenacity). Hosts that
resolve to loopback, private, link-local or other non-public addresses are refused unless
``CRAWL_ALLOW_PRIVATE_NETWORKS`` is on, and every redirect hop is checked again, so a public page
cannot redirect the crawler into a private network.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from loguru import logger
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from llm_engineering.exceptions import LLMTwinError

HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/xml", "text/xml", "application/rdf+xml")
_REDIRECTS = (301, 302, 303, 307, 308)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.IGNORECASE)


class FetchError(LLMTwinError):
    """A link could not be fetched; the message says why (no stack trace needed)."""


class TransientFetchError(FetchError):
    """A failure worth retrying: HTTP 5xx/429, a timeout or a dropped connection."""


@dataclass(frozen=True)
class FetchResult:
    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes
    text: str

    @property
    def is_feed(self) -> bool:
        return self.content_type in FEED_TYPES or (
            self.content_type in ("text/plain", "") and self.text.lstrip()[:200].startswith("<?xml")
        )


def check_url(url: str, allow_private: bool = False) -> str:
    """Return the URL when it is a well-formed public http(s) URL; raise FetchError otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise FetchError("malformed URL: empty link")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"malformed URL {url!r}: {exc}") from None
    if not parts.scheme:
        raise FetchError(f"malformed URL {url!r}: no scheme (expected http:// or https://)")
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"unsupported scheme {parts.scheme.lower()}: in {url!r} (only http and https)")
    host = parts.hostname
    if not host or any(c.isspace() for c in url):
        raise FetchError(f"malformed URL {url!r}: no valid host")
    if not allow_private:
        for address in _resolve(host, port or (443 if parts.scheme.lower() == "https" else 80)):
            if not address.is_global or address.is_multicast:
                raise FetchError(
                    f"refused {url!r}: {host} resolves to the non-public address {address} "
                    "(set CRAWL_ALLOW_PRIVATE_NETWORKS=true to allow private networks)"
                )
    return url


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def decode_body(body: bytes, content_type_header: str) -> str:
    """Decode with the declared charset (header, then <meta>), else strict UTF-8."""
    charset = None
    match = re.search(r"charset\s*=\s*[\"']?([\w:.-]+)", content_type_header or "", re.IGNORECASE)
    if match:
        charset = match.group(1)
    else:
        meta = _META_CHARSET.search(body[:4096])
        if meta:
            charset = meta.group(1).decode("ascii", "replace")
    if body.startswith(codecs.BOM_UTF8):
        charset, body = "utf-8", body[len(codecs.BOM_UTF8) :]
    charset = charset or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        raise FetchError(f"unknown charset {charset!r} declared by the page") from None
    try:
        return body.decode(charset)
    except UnicodeDecodeError as exc:
        raise FetchError(f"the page is not valid {charset} (byte {exc.start}); nothing was stored") from None


class Fetcher:
    """An HTTP client for one crawl: shared connection pool, safe redirects, retries, size cap.

    Thread-safe (httpx.Client is); use as a context manager or call ``close()``.
    """

    def __init__(self, settings=None, client: httpx.Client | None = None):
        from llm_engineering.settings import get_settings

        self.settings = settings or get_settings()
        s = self.settings
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(s.CRAWL_TIMEOUT_S),
            headers={"User-Agent": s.CRAWL_USER_AGENT, "Accept-Language": "*", "Accept-Encoding": "gzip, deflate"},
            follow_redirects=False,
            limits=httpx.Limits(max_connections=max(8, s.CRAWL_MAX_WORKERS * 2)),
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def check(self, url: str) -> str:
        return check_url(url, self.settings.CRAWL_ALLOW_PRIVATE_NETWORKS)

    def fetch(self, url: str, accept: tuple[str, ...] = HTML_TYPES + FEED_TYPES) -> FetchResult:
        """GET ``url`` following redirects safely; only the content types in ``accept`` pass."""
        s = self.settings
        retrying = Retrying(
            stop=stop_after_attempt(s.CRAWL_RETRIES),
            wait=wait_exponential(multiplier=s.CRAWL_BACKOFF_S, max=10),
            retry=retry_if_exception_type(TransientFetchError),
            reraise=True,
            before_sleep=lambda state: logger.info(
                "retrying {} (attempt {} failed: {})", url, state.attempt_number, state.outcome.exception()
            ),
        )
        return retrying(self._fetch_once, url, accept)

    def _fetch_once(self, url: str, accept: tuple[str, ...]) -> FetchResult:
        current, seen = self.check(url), set()
        for _ in range(self.settings.CRAWL_MAX_REDIRECTS + 1):
            seen.add(current)
            status, headers, body = self._get(current)
            if status in _REDIRECTS and headers.get("location"):
                target = urljoin(current, headers["location"])
                if target in seen:
                    raise FetchError(f"redirect loop at {target}")
                current = self.check(target)
                continue
            if status == 429 or status >= 500:
                raise TransientFetchError(f"HTTP {status} from {current}")
            if status >= 400:
                raise FetchError(f"HTTP {status} from {current}")
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if accept and content_type not in accept:
                raise FetchError(f"unsupported content type {content_type or 'none'} at {current}")
            text = decode_body(body, headers.get("content-type", ""))
            return FetchResult(url, current, status, content_type, body, text)
        raise FetchError(f"too many redirects (more than {self.settings.CRAWL_MAX_REDIRECTS}) from {url}")

    def _get(self, url: str) -> tuple[int, httpx.Headers, bytes]:
        cap = self.settings.CRAWL_MAX_BYTES
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code in _REDIRECTS or response.status_code >= 400:
                    return response.status_code, response.headers, b""
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise FetchError(f"page too large: {declared} bytes > CRAWL_MAX_BYTES={cap} at {url}")
                chunks, size = [], 0
                for chunk in response.iter_raw():
                    size += len(chunk)
                    if size > cap:
                        raise FetchError(f"page too large: more than CRAWL_MAX_BYTES={cap} bytes at {url}")
                    chunks.append(chunk)
                return response.status_code, response.headers, _decompress(b"".join(chunks), response, cap, url)
        except httpx.TimeoutException:
            raise TransientFetchError(f"timed out after {self.settings.CRAWL_TIMEOUT_S:g}s at {url}") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise TransientFetchError(f"connection failed at {url}: {exc}") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"request failed at {url}: {exc}") from None


def _decompress(raw: bytes, response: httpx.Response, cap: int, url: str) -> bytes:
    """Undo Content-Encoding with the same size cap (a small gzip can expand to gigabytes)."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if not encoding or encoding == "identity":
        return raw
    import zlib

    if encoding not in ("gzip", "deflate", "x-gzip"):
        raise FetchError(f"unsupported content encoding {encoding} at {url}")
    wbits = 47 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
    decoder = zlib.decompressobj(wbits)
    try:
        body = decoder.decompress(raw, cap + 1)
    except zlib.error as exc:
        raise FetchError(f"corrupt {encoding} body at {url}: {exc}") from None
    if len(body) > cap or decoder.unconsumed_tail:
        raise FetchError(f"page too large once decompressed: more than CRAWL_MAX_BYTES={cap} bytes at {url}")
    return body
