"""All runtime settings of LLM Twin in one pydantic-settings class.

Values come from environment variables (case-insensitive) and from a ``.env`` file in the
working directory. Every setting is documented, with its default, in ``.env.example``.
Nothing needs an API key: keys only switch on remote services.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llm_engineering.exceptions import ConfigurationError

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_log_level(value: str) -> str:
    """``value`` as a loguru level name; anything else raises ``ValueError`` naming the choices."""
    level = str(value).strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (got {value!r})")
    return level


def parse_allowed_networks(value: str) -> tuple[set[str], list[Network]]:
    """CRAWL_ALLOWED_NETWORKS (comma-separated host names, addresses or CIDR ranges) as
    ``(host names, networks)``; an item that is none of these raises ``ValueError`` naming it."""
    hosts: set[str] = set()
    networks: list[Network] = []
    for item in (part.strip() for part in (value or "").split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", item) or re.fullmatch(r"[0-9.]+", item):
                raise ValueError(f"{item!r} is neither a host name, an address nor a CIDR range") from None
            hosts.add(item.lower().rstrip("."))
    return hosts, networks


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,
    )

    # --- local state -----------------------------------------------------------------------
    DATA_DIR: Path = Field(
        Path(".llm_twin"),
        description="Folder for every embedded store, cache and the ZenML home.",
    )
    LOG_LEVEL: str = Field(
        "INFO", description="Least important log lines shown: DEBUG adds details and library warnings."
    )

    # --- document warehouse ----------------------------------------------------------------
    DATABASE_HOST: str = Field(
        "",
        description="Empty: embedded SQLite warehouse in DATA_DIR. mongodb://… : MongoDB.",
    )
    DATABASE_NAME: str = "twin"
    DATABASE_TIMEOUT_S: float = Field(5.0, gt=0, description="Connect timeout for MongoDB.")

    # --- vector store ----------------------------------------------------------------------
    QDRANT_URL: str = Field("", description="Empty: the embedded store in DATA_DIR/qdrant (QDRANT_EMBEDDED).")
    QDRANT_API_KEY: SecretStr | None = None
    QDRANT_PATH: Path | None = Field(None, description="Local-mode folder (default DATA_DIR/qdrant).")
    QDRANT_EMBEDDED: Literal["edge", "local"] = Field(
        "edge",
        description="Embedded store without QDRANT_URL: edge (Qdrant's engine in-process, qdrant-edge-py) "
        "or local (qdrant-client's local mode, every point in Python objects; ':memory:' paths always use it).",
    )

    # --- models ----------------------------------------------------------------------------
    EMBEDDING_MODEL_ID: str = Field(
        "",
        description="Sentence-transformers id or path; empty: the offline all-MiniLM-L6-v2 package.",
    )
    TORCH_NUM_THREADS: int | None = Field(
        None, ge=1, description="Threads for torch; set 1 when other work shares the cores."
    )
    INFERENCE_THREADS: int | None = Field(
        None, ge=1, description="Threads for generation and embedding; empty: see docs/inference.md."
    )

    # --- remote services (all optional) ----------------------------------------------------
    HUGGINGFACE_ACCESS_TOKEN: SecretStr | None = None

    # --- crawling (ETL) --------------------------------------------------------------------
    CRAWL_TIMEOUT_S: float = Field(15.0, gt=0, description="Connect/read timeout of one request or page load.")
    CRAWL_RETRIES: int = Field(
        3, ge=1, le=10, description="Attempts per request for transient errors (5xx, 429, timeouts)."
    )
    CRAWL_BACKOFF_S: float = Field(0.5, ge=0, description="First wait between attempts; doubles each retry (max 10 s).")
    CRAWL_MAX_BYTES: int = Field(5_000_000, gt=0, description="Largest response body accepted, in bytes.")
    CRAWL_MAX_REDIRECTS: int = Field(10, ge=0, description="Redirects followed before a link fails.")
    CRAWL_MAX_WORKERS: int = Field(4, ge=1, le=64, description="Links crawled at the same time.")
    CRAWL_DEADLINE_S: float = Field(
        60.0, gt=0, description="Longest one fetch may take in all: redirects, retries and a slow body."
    )
    CRAWL_ALLOWED_NETWORKS: str = Field(
        "",
        description="Non-public hosts, addresses or CIDR ranges crawlers may reach, comma-separated "
        "(e.g. 127.0.0.1,wiki.internal,10.2.0.0/16); cloud metadata addresses never.",
    )
    CRAWL_USER_AGENT: str = Field("llm-twin-crawler/0.1", description="User-Agent header of every request.")
    GITHUB_CLONE_TIMEOUT_S: float = Field(120.0, gt=0, description="Longest a `git clone --depth 1` may take.")
    GITHUB_CLONE_MAX_MB: float = Field(100.0, gt=0, description="Largest clone (working tree + .git) accepted.")
    GITHUB_MAX_FILE_KB: int = Field(512, gt=0, description="Larger files of a repository are left out.")
    CHROMIUM_PATH: Path = Field(Path("/usr/bin/chromium"), description="Chromium binary for Selenium crawlers.")
    CHROMEDRIVER_PATH: Path = Field(Path("/usr/bin/chromedriver"), description="chromedriver matching Chromium.")
    CHROMIUM_HOST_RESOLVER_RULES: str = Field(
        "", description="Chromium --host-resolver-rules (tests: keep DNS on 127.0.0.1); empty: none."
    )

    # --- feature engineering ---------------------------------------------------------------
    CHUNK_SIZE_TOKENS: int = Field(
        200, ge=8, description="Most word pieces per chunk (at most the embedding model's window minus 2)."
    )
    CHUNK_OVERLAP_TOKENS: int = Field(
        30, ge=0, description="Word pieces a chunk repeats from the end of the one before it."
    )
    CHUNK_PASSAGE_CHARS: int = Field(
        1000, ge=0, description="Characters per passage, the unit retrieval returns (0: each chunk alone)."
    )
    EMBEDDING_BATCH_SIZE: int = Field(32, ge=1, description="Texts per forward pass of the embedding model.")
    CLEANING_MIN_KEPT_SHARE: float = Field(
        0.9, ge=0, le=1, description="Warn when cleaning keeps less of a document's letters and digits than this."
    )
    FEATURES_WINDOW_CHUNKS: int = Field(
        512, ge=1, description="Chunks embedded and written per step; a crash loses at most one window."
    )

    # --- LLM and training ------------------------------------------------------------------
    LLM_MODEL_ID: str = Field(
        "",
        description="Model to serve/evaluate: empty = base SmolLM2-135M-Instruct, 'latest' = newest "
        "tuned model in the registry, or a Hugging Face id / local folder.",
    )
    MODEL_CACHE_DIR: Path | None = Field(None, description="Converted base models (default DATA_DIR/models/base).")
    MODEL_REGISTRY_DIR: Path | None = Field(
        None, description="Local model registry, one folder per version (default DATA_DIR/models/registry)."
    )
    TRAINING_MAX_STEPS: int | None = Field(
        None, ge=1, description="When set, caps SFT and DPO at this many optimiser steps (quick runs)."
    )
    TRAINING_TIME_BUDGET_S: float | None = Field(
        None,
        description="Seconds of training steps for SFT and DPO together (DPO gets dpo_budget_share of it): "
        "steps are planned from a measured step time and training stops on time. Empty: "
        "configs/training.yaml's time_budget_s (150 s on a laptop CPU).",
    )
    TRAINING_FORCE: bool = Field(
        False, description="Retrain even when the datasets and training config match the newest version."
    )

    # --- datasets --------------------------------------------------------------------------
    DATASET_DIR: Path | None = Field(
        None, description="Generated instruct/preference datasets, one folder per version (default DATA_DIR/datasets)."
    )
    DATASET_LLM_CACHE_DIR: Path | None = Field(
        None, description="Cached model replies of dataset generation (default DATA_DIR/cache/llm)."
    )
    DATASET_HUB_INSTRUCT_REPO_ID: str = Field(
        "", description="Hub dataset repo for the instruct dataset; pushed only with HUGGINGFACE_ACCESS_TOKEN."
    )
    DATASET_HUB_PREFERENCE_REPO_ID: str = Field(
        "", description="Hub dataset repo for the preference dataset; pushed only with HUGGINGFACE_ACCESS_TOKEN."
    )

    # --- RAG and inference service ---------------------------------------------------------
    LLM_BASE_URL: str = Field(
        "", description="Empty: generate in-process (transformers). Else any OpenAI-compatible /v1 URL."
    )
    LLM_API_KEY: SecretStr | None = Field(None, description="Bearer key for LLM_BASE_URL, if it needs one.")
    LLM_TIMEOUT_S: float = Field(120.0, gt=0, description="Per-request timeout for LLM_BASE_URL.")
    LLM_MAX_RETRIES: int = Field(3, ge=1, description="Tries per request to LLM_BASE_URL (exponential backoff).")
    LLM_MAX_CONCURRENCY: int = Field(4, ge=1, description="Parallel requests of one batch to LLM_BASE_URL.")
    LLM_BACKEND: str = Field(
        "auto",
        pattern="^(auto|transformers|onnxruntime)$",
        description="In-process engine: onnxruntime (ONNX Runtime GenAI), transformers, or auto "
        "(onnxruntime when installed and the model converts, else transformers).",
    )
    LLM_ONNX_PRECISION: str = Field(
        "int8", pattern="^(int4|int8|fp32)$", description="Weights of the ONNX copy the onnxruntime backend runs."
    )
    LLM_ONNX_SPIN: str = Field(
        "auto",
        pattern="^(auto|on|off)$",
        description="Whether the onnxruntime backend's threads spin while they wait: on (fastest on cores of "
        "their own), off (sleep: least hurt by other work), auto (spin while no other work keeps a core busy).",
    )
    LLM_STOP_REPEATS: bool = Field(
        True, description="In-process model: end an answer that repeats one block three times running (kept once)."
    )
    RAG_TOP_K: int = Field(5, ge=1, le=100, description="Chunks of context retrieved per question.")
    RAG_ANSWER_MODE: str = Field(
        "auto",
        pattern="^(generate|extractive|auto)$",
        description="generate (the LLM writes), extractive (quote the author's sentences with sources) or auto "
        "(extractive for the in-process model, generate for LLM_BASE_URL); see docs/answers.md.",
    )
    RAG_HISTORY_CHARS: int = Field(
        2000, ge=0, description="Earlier turns of a conversation kept in the prompt (characters, latest first)."
    )
    RAG_FUSION: str = Field(
        "relative",
        pattern="^(relative|rrf|weighted)$",
        description="relative (scores over each ranking's best), rrf (reciprocal ranks) or weighted (min-max scores).",
    )
    RAG_DENSE_WEIGHT: float = Field(0.3, ge=0, description="Weight of the dense (embedding) ranking.")
    RAG_LEXICAL_WEIGHT: float = Field(1.0, ge=0, description="Weight of the BM25 ranking.")
    RAG_RRF_K: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    RAG_DENSE_SCRIPTS: str = Field(
        "latin",
        description="Scripts the embedding model reads (comma-separated Unicode script names, e.g. latin,"
        "hangul; empty: all). The dense ranking's weight is scaled by the share of the question's letters in them.",
    )
    RAG_DENSE_MIN_COVERAGE: float = Field(
        0.75, ge=0, le=1, description="Below this share of readable letters the dense ranking is left out."
    )
    RAG_KOREAN_TERMS: str = Field(
        "bigrams", pattern="^(bigrams|morphemes|both)$", description="BM25 terms for Hangul: bigrams, morphemes, both."
    )
    RAG_CANDIDATES: int = Field(50, ge=1, description="Candidates each ranking contributes before fusion.")
    RAG_MAX_CHUNKS_PER_DOCUMENT: int = Field(5, ge=1, description="Chunks of one document in the context.")
    RAG_DOCUMENT_WEIGHT: float = Field(
        4.0, ge=0, description="How strongly a document's score weighs on its chunks (document reranker)."
    )
    RAG_RERANKER: str = Field(
        "document", pattern="^(document|diversity)$", description="Cheap reranker when RERANKER_MODEL_ID is empty."
    )
    RERANKER_MODEL_ID: str = Field(
        "", description="Cross-encoder id/path; empty: the cheap reranker RAG_RERANKER names."
    )
    QUERY_EXPANSION: bool = Field(False, description="Rephrase the question with the LLM and search each.")
    QUERY_EXPANSION_COUNT: int = Field(2, ge=1, le=8, description="Extra phrasings when QUERY_EXPANSION.")
    SELF_QUERY_LLM: bool = Field(False, description="Ask the LLM for the author when no name matches.")
    API_KEY: SecretStr | None = Field(None, description="Service key (Authorization: Bearer); empty: open.")
    SERVICE_HOST: str = "127.0.0.1"
    SERVICE_PORT: int = Field(8000, ge=1, le=65535)
    SERVICE_URL: str = Field("", description="Where tools.ml_service call sends questions (default host:port).")
    SERVICE_MAX_QUEUE: int = Field(64, ge=1, description="Generations running or waiting; beyond: 503.")
    SERVICE_MAX_TOKENS_LIMIT: int = Field(1024, ge=1, description="Largest max_tokens a request may ask.")
    SERVICE_DEFAULT_MAX_TOKENS: int = Field(256, ge=1, description="max_tokens when a request gives none.")
    SERVICE_MAX_REQUEST_BYTES: int = Field(65536, ge=1024, description="Largest request body; beyond: 413.")
    SERVICE_MAX_HEADER_BYTES: int = Field(16384, ge=1024, description="Largest request headers in all; beyond: 431.")
    SERVICE_TRACES: bool = Field(True, description="Store every request's trace in the warehouse.")
    OPIK_API_KEY: SecretStr | None = Field(None, description="Also send traces to Opik (needs the opik package).")
    OPIK_WORKSPACE: str = ""
    OPIK_PROJECT_NAME: str = "llm-twin"

    # --- orchestration ---------------------------------------------------------------------
    ZENML_CONFIG_PATH: Path | None = Field(
        None, description="ZenML global config and SQLite store (default DATA_DIR/zenml)."
    )
    ZENML_ANALYTICS_OPT_IN: bool = False

    @field_validator("LOG_LEVEL")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        return check_log_level(value)

    @field_validator("DATABASE_HOST")
    @classmethod
    def _check_database_host(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must be empty (embedded warehouse) or a mongodb:// URI")
        return value

    @field_validator("CRAWL_ALLOWED_NETWORKS")
    @classmethod
    def _check_allowed_networks(cls, value: str) -> str:
        parse_allowed_networks(value)  # raises ValueError naming the bad item
        return value.strip()

    @field_validator("QDRANT_URL")
    @classmethod
    def _check_qdrant_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be empty (local mode) or an http(s):// URL")
        return value

    @property
    def qdrant_path(self) -> Path:
        return self.QDRANT_PATH or self.DATA_DIR / "qdrant"

    @property
    def warehouse_path(self) -> Path:
        return self.DATA_DIR / "warehouse.sqlite3"

    @property
    def zenml_config_path(self) -> Path:
        return self.ZENML_CONFIG_PATH or self.DATA_DIR / "zenml"


def load_settings(**overrides) -> Settings:
    """Build settings, turning validation errors into a message that names each bad setting.

    The message never repeats the offending value, so a malformed secret cannot leak.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigurationError(f"Invalid settings (environment or .env): {problems}. See .env.example.") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call ``get_settings.cache_clear()``."""
    return load_settings()
