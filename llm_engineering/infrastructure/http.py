"""Safe, polite HTTP fetching for the crawlers.

Every request has a timeout, a user agent and a response size cap, and a whole fetch (redirects,
retries, a body that trickles in) has a deadline, ``CRAWL_DEADLINE_S``; transient failures (HTTP
5xx and 429, timeouts, dropped connections) are retried with exponential backoff (tenacity).

Hosts that resolve to loopback, private, link-local or other non-public addresses are refused
unless ``CRAWL_ALLOWED_NETWORKS`` names the host or a range holding the address; cloud metadata
addresses are refused whatever it says. Every redirect hop is checked again, and the connection
goes to the address that was checked (the name is not resolved a second time, so a DNS answer that
changes between the check and the connection cannot steer the crawler inward).
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from loguru import logger
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from llm_engineering.exceptions import LLMTwinError
from llm_engineering.settings import get_settings, parse_allowed_networks

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


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services hand out credentials: never fetched, whatever CRAWL_ALLOWED_NETWORKS says.
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32", "fd20:ce::254/128")
)


class NetworkPolicy:
    """Which addresses the crawler may connect to.

    Public addresses always; non-public ones only when ``allowed`` (CRAWL_ALLOWED_NETWORKS: host
    names, addresses or CIDR ranges, comma-separated) names the URL's host or a range holding the
    address; cloud metadata ranges (``METADATA_NETWORKS``) never.
    """

    def __init__(self, allowed: str = "") -> None:
        self.hosts, self.networks = parse_allowed_networks(allowed)

    @classmethod
    def from_settings(cls, settings) -> NetworkPolicy:
        return cls(settings.CRAWL_ALLOWED_NETWORKS)

    def refusal(self, host: str, address: Address) -> str | None:
        """Why ``address`` (which ``host`` resolved to) may not be fetched, or None when it may."""
        plain = _plain(address)
        if any(plain in network for network in METADATA_NETWORKS if network.version == plain.version):
            return f"{host} resolves to {address}, a cloud metadata address (never fetched)"
        if plain.is_global and not plain.is_multicast:
            return None
        if host.lower().rstrip(".") in self.hosts or any(
            plain in network for network in self.networks if network.version == plain.version
        ):
            return None
        return (
            f"{host} resolves to the non-public address {address} "
            "(add the host or its range to CRAWL_ALLOWED_NETWORKS to allow it)"
        )


def _plain(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) as the IPv4 address it carries."""
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def _parse(url: str) -> tuple[str, object]:
    """The stripped URL and its parts, when it is a well-formed http(s) URL with a host."""
    if not isinstance(url, str) or not url.strip():
        raise FetchError("malformed URL: empty link")
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise FetchError(f"malformed URL {url!r}: {exc}") from None
    if not parts.scheme:
        raise FetchError(f"malformed URL {url!r}: no scheme (expected http:// or https://)")
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"unsupported scheme {parts.scheme.lower()}: in {url!r} (only http and https)")
    if not parts.hostname or any(c.isspace() for c in url):
        raise FetchError(f"malformed URL {url!r}: no valid host")
    return url, parts


def _default_port(parts) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def check_url(url: str, policy: NetworkPolicy | None = None) -> str:
    """Return the URL when it is a well-formed http(s) URL whose host the policy permits.

    ``policy=None`` checks the syntax only (addresses are then checked when fetching).
    """
    url, parts = _parse(url)
    if policy is not None:
        checked_address(parts.hostname, _default_port(parts), policy, url)
    return url


def checked_address(host: str, port: int, policy: NetworkPolicy, url: str) -> Address:
    """Resolve ``host`` once and return the address to connect to; every address it resolves to
    must be permitted (a name answering one public and one private address is refused)."""
    addresses = _resolve(host, port)
    for address in addresses:
        reason = policy.refusal(host, address)
        if reason:
            raise FetchError(f"refused {url!r}: {reason}")
    return addresses[0]


def _resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise FetchError(f"cannot resolve host {host!r}: no address")
    return addresses


def pinned_request(url: str, policy: NetworkPolicy) -> tuple[str, dict[str, str], dict]:
    """The URL rewritten to the checked address, with the Host header and TLS name of the original.

    The connection goes to the very address that was checked, so a second DNS answer (rebinding)
    plays no part; certificates are still verified against the host name.
    """
    url, parts = _parse(url)
    host = parts.hostname
    address = checked_address(host, _default_port(parts), policy, url)
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = literal + (f":{parts.port}" if parts.port else "")
    host_header = parts.netloc.rpartition("@")[2]
    extensions = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": host_header}, extensions


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
        self.settings = settings or get_settings()
        s = self.settings
        self.policy = NetworkPolicy.from_settings(s)
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
        return check_url(url, self.policy)

    def fetch(self, url: str, accept: tuple[str, ...] = HTML_TYPES + FEED_TYPES) -> FetchResult:
        """GET ``url`` following redirects safely; only the content types in ``accept`` pass.

        Everything (hops, retries, waits, slow bodies) ends by ``CRAWL_DEADLINE_S``.
        """
        s = self.settings
        deadline = time.monotonic() + s.CRAWL_DEADLINE_S
        backoff = wait_exponential(multiplier=s.CRAWL_BACKOFF_S, max=10)
        retrying = Retrying(
            stop=stop_after_attempt(s.CRAWL_RETRIES),
            wait=lambda state: min(backoff(state), max(0.0, deadline - time.monotonic())),
            retry=retry_if_exception_type(TransientFetchError),
            reraise=True,
            before_sleep=lambda state: logger.info(
                "retrying {} (attempt {} failed: {})", url, state.attempt_number, state.outcome.exception()
            ),
        )
        return retrying(self._fetch_once, url, accept, deadline)

    def _fetch_once(self, url: str, accept: tuple[str, ...], deadline: float) -> FetchResult:
        current, seen = _parse(url)[0], set()
        for _ in range(self.settings.CRAWL_MAX_REDIRECTS + 1):
            seen.add(current)
            status, headers, body = self._get(current, deadline)
            if status in _REDIRECTS and headers.get("location"):
                target = urljoin(current, headers["location"])
                if target in seen:
                    raise FetchError(f"redirect loop at {target}")
                current = _parse(target)[0]
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

    def _get(self, url: str, deadline: float) -> tuple[int, httpx.Headers, bytes]:
        s = self.settings
        cap = s.CRAWL_MAX_BYTES

        def remaining() -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchError(f"gave up after CRAWL_DEADLINE_S={s.CRAWL_DEADLINE_S:g}s at {url}")
            return left

        target, headers, extensions = pinned_request(url, self.policy)  # the checked address, once
        try:
            with self._client.stream(
                "GET",
                target,
                headers=headers,
                extensions=extensions,
                timeout=httpx.Timeout(min(s.CRAWL_TIMEOUT_S, remaining())),
            ) as response:
                if response.status_code in _REDIRECTS or response.status_code >= 400:
                    return response.status_code, response.headers, b""
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise FetchError(f"page too large: {declared} bytes > CRAWL_MAX_BYTES={cap} at {url}")
                chunks, size = [], 0
                for chunk in response.iter_raw():
                    remaining()  # a body trickling in byte by byte still ends by the deadline
                    size += len(chunk)
                    if size > cap:
                        raise FetchError(f"page too large: more than CRAWL_MAX_BYTES={cap} bytes at {url}")
                    chunks.append(chunk)
                return response.status_code, response.headers, _decompress(b"".join(chunks), response, cap, url)
        except httpx.TimeoutException:
            remaining()
            raise TransientFetchError(f"timed out after {s.CRAWL_TIMEOUT_S:g}s at {url}") from None
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
