"""All runtime settings of LLM Twin in one pydantic-settings class.

Values come from environment variables (case-insensitive) and from a ``.env`` file in the
working directory. Every setting is documented, with its default, in ``.env.example``.
Nothing needs an API key: keys only switch on remote services.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llm_engineering.exceptions import ConfigurationError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
        env_ignore_empty=True,
    )

    # --- local state -----------------------------------------------------------------------
    DATA_DIR: Path = Field(
        Path(".llm_twin"),
        description="Folder for every embedded store, cache and the ZenML home.",
    )

    # --- document warehouse ----------------------------------------------------------------
    DATABASE_HOST: str = Field(
        "",
        description="Empty: embedded SQLite warehouse in DATA_DIR. mongodb://… : MongoDB.",
    )
    DATABASE_NAME: str = "twin"
    DATABASE_TIMEOUT_S: float = Field(5.0, gt=0, description="Connect timeout for MongoDB.")

    # --- vector store ----------------------------------------------------------------------
    QDRANT_URL: str = Field("", description="Empty: Qdrant local mode in DATA_DIR/qdrant.")
    QDRANT_API_KEY: SecretStr | None = None
    QDRANT_PATH: Path | None = Field(None, description="Local-mode folder (default DATA_DIR/qdrant).")

    # --- models ----------------------------------------------------------------------------
    EMBEDDING_MODEL_ID: str = Field(
        "",
        description="Sentence-transformers id or path; empty: the offline all-MiniLM-L6-v2 package.",
    )
    TORCH_NUM_THREADS: int | None = Field(
        None, ge=1, description="Threads for torch; set 1 when other work shares the cores."
    )

    # --- remote services (all optional) ----------------------------------------------------
    OPENAI_API_KEY: SecretStr | None = None
    HUGGINGFACE_ACCESS_TOKEN: SecretStr | None = None

    # --- crawling (ETL) --------------------------------------------------------------------
    CRAWL_TIMEOUT_S: float = Field(15.0, gt=0, description="Connect/read timeout of one request or page load.")
    CRAWL_RETRIES: int = Field(3, ge=1, le=10, description="Attempts per request for transient errors (5xx, 429, timeouts).")
    CRAWL_BACKOFF_S: float = Field(0.5, ge=0, description="First wait between attempts; doubles each retry (max 10 s).")
    CRAWL_MAX_BYTES: int = Field(5_000_000, gt=0, description="Largest response body accepted, in bytes.")
    CRAWL_MAX_REDIRECTS: int = Field(10, ge=0, description="Redirects followed before a link fails.")
    CRAWL_MAX_WORKERS: int = Field(4, ge=1, le=64, description="Links crawled at the same time.")
    CRAWL_ALLOW_PRIVATE_NETWORKS: bool = Field(
        False, description="Allow loopback, private and link-local addresses (local test servers only)."
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

    # --- LLM and training ------------------------------------------------------------------
    LLM_MODEL_ID: str = Field(
        "",
        description="Model to serve/evaluate: empty = base SmolLM2-135M-Instruct, 'latest' = newest "
        "tuned model in the registry, or a Hugging Face id / local folder.",
    )
    MODEL_CACHE_DIR: Path | None = Field(
        None, description="Converted base models (default DATA_DIR/models/base)."
    )
    MODEL_REGISTRY_DIR: Path | None = Field(
        None, description="Local model registry, one folder per version (default DATA_DIR/models/registry)."
    )

    # --- RAG and inference service ---------------------------------------------------------

    # --- orchestration ---------------------------------------------------------------------
    ZENML_CONFIG_PATH: Path | None = Field(
        None, description="ZenML global config and SQLite store (default DATA_DIR/zenml)."
    )
    ZENML_ANALYTICS_OPT_IN: bool = False

    @field_validator("DATABASE_HOST")
    @classmethod
    def _check_database_host(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must be empty (embedded warehouse) or a mongodb:// URI")
        return value

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
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigurationError(
            f"Invalid settings (environment or .env): {problems}. See .env.example."
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests call ``get_settings.cache_clear()``."""
    return load_settings()
