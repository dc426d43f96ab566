"""Deterministic identities: the same source always gives the same id."""

from __future__ import annotations

import hashlib
import json
import unicodedata
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# A fixed namespace so ids are stable across machines and versions of the project.
NAMESPACE = uuid.UUID("6f1c3e0a-52b4-4f61-9d8e-3a7c2b9e4d10")
_TRACKING_PARAMS = ("utm_", "fbclid", "gclid", "ref_src", "source")


def normalise_name(name: str) -> str:
    """A person's name for display: Unicode NFC, single spaces, no surrounding blanks."""
    return " ".join(unicodedata.normalize("NFC", name).split())


def name_key(name: str) -> str:
    """A name for matching: NFKC, case-folded, single spaces. Works for any script."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def canonical_link(url: str) -> str:
    """A link without the noise that makes one page look like two.

    Lower-cases scheme and host, drops the fragment, tracking parameters, a default port
    and a trailing slash. Non-web paths (local files) are returned normalised but unchanged.
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return unicodedata.normalize("NFC", url)
    host = (parts.hostname or "").lower()
    if parts.port and not (
        (parts.scheme == "http" and parts.port == 80) or (parts.scheme == "https" and parts.port == 443)
    ):
        host = f"{host}:{parts.port}"
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not k.lower().startswith(_TRACKING_PARAMS)
        ]
    )
    path = parts.path.rstrip("/") if parts.path not in ("", "/") else ""
    return urlunsplit((parts.scheme.lower(), host, path, query, ""))


def id_from(*parts: str) -> uuid.UUID:
    """A uuid5 of the given parts in the project's namespace."""
    return uuid.uuid5(NAMESPACE, "\x1f".join(parts))


def content_hash(content: Any) -> str:
    """A SHA-256 of JSON content with sorted keys: equal content, equal hash."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
