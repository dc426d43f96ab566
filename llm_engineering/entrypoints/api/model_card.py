"""Which model the service answers with, under a name that tells versions apart.

The twin is configured as ``latest`` (the newest version in the model registry) by default, a name
that says nothing about what answers: ``GET /v1/models`` and ``/health`` name the registry version
instead (``twin-v0003``), with its base model, training stages and creation time. ``latest`` and
``llm-twin`` stay usable as aliases in a request's ``model``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from llm_engineering.infrastructure.llm import LLMClient
from llm_engineering.model.loading import BASE_MODEL_NAME, LATEST
from llm_engineering.model.registry import ModelVersion, get_registry

SERVICE_ALIAS = "llm-twin"
TWIN_PREFIX = "twin-"


def describe(llm: LLMClient) -> dict[str, Any]:
    """The model ``llm`` serves: ``id`` (what clients send and see), ``version`` (registry version or
    ``None``), ``base_model``, ``stages``, ``tuned``, ``created`` (Unix time, 0 when unknown) and
    ``aliases``. Reads the registry's manifest; loads no model. A remote server's model is named as
    that server names it (``LLMError`` when it cannot be reached)."""
    if not hasattr(llm, "requested_model"):  # an OpenAI-compatible server
        return _card(llm.model_id, base_model=None, tuned=None)
    requested = (llm.requested_model or "").strip()
    aliases = [LATEST] if requested == LATEST else []
    if not requested or requested == LATEST:
        version = get_registry().latest() if requested == LATEST else None
        if version is None:
            return _card(BASE_MODEL_NAME, base_model=BASE_MODEL_NAME, tuned=False, aliases=aliases)
        return _version_card(version, aliases)
    folder = Path(requested).expanduser()
    if folder.is_dir():
        home = folder if (folder / "manifest.json").is_file() else folder.parent
        if (home / "manifest.json").is_file():
            return _version_card(ModelVersion(home.name, home), aliases)
        return _card(folder.name, base_model=None, tuned=None)  # a folder by its name, never its path
    return _card(requested, base_model=None, tuned=None)  # a hub id


def accepted_names(card: dict[str, Any], llm: LLMClient) -> set[str]:
    """Every ``model`` a request may name to be answered by this service."""
    names = {card["id"], *card["aliases"]}
    configured = getattr(llm, "requested_model", None)
    if configured:
        names.add(configured)
    return names


def _version_card(version: ModelVersion, aliases: list[str]) -> dict[str, Any]:
    try:
        manifest = version.manifest
    except (OSError, ValueError):
        manifest = {}
    try:
        created = int(datetime.fromisoformat(manifest["created_at"]).timestamp())
    except (KeyError, TypeError, ValueError):
        created = 0
    return _card(
        TWIN_PREFIX + version.version,
        base_model=manifest.get("base_model"),
        tuned=True,
        version=version.version,
        stages=list(manifest.get("stages") or []),
        created=created,
        aliases=aliases,
    )


def _card(
    model_id: str,
    *,
    base_model: str | None,
    tuned: bool | None,
    version: str | None = None,
    stages: list[str] | None = None,
    created: int = 0,
    aliases: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": SERVICE_ALIAS,
        "version": version,
        "base_model": base_model,
        "stages": stages or [],
        "tuned": tuned,
        "aliases": [SERVICE_ALIAS, *(aliases or [])],
    }
