"""ZenML set-up kept inside the project: config, SQLite store and artifacts under DATA_DIR.

Call ``configure_zenml()`` before the first ``import zenml`` of a process (tools do it for you).
"""

from __future__ import annotations

import os
from pathlib import Path

from loguru import logger


def configure_zenml(settings=None, repo_root: str | Path = ".") -> Path:
    """Point ZenML at the project's folder, switch analytics off, and ``zenml init`` if needed.

    Explicit ``ZENML_*`` environment variables win over the project's defaults.
    Returns the ZenML config path.
    """
    from llm_engineering.settings import get_settings

    settings = settings or get_settings()
    config_path = Path(os.environ.get("ZENML_CONFIG_PATH") or settings.zenml_config_path).resolve()
    config_path.mkdir(parents=True, exist_ok=True)
    os.environ["ZENML_CONFIG_PATH"] = str(config_path)
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", str(settings.ZENML_ANALYTICS_OPT_IN).lower())
    os.environ.setdefault("ZENML_ENABLE_REPO_INIT_WARNINGS", "false")
    os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")
    os.environ.setdefault("AUTO_OPEN_DASHBOARD", "false")
    root = Path(repo_root).resolve()
    if not (root / ".zen").is_dir():
        from zenml.client import Client

        Client.initialize(root=root)
        logger.info("initialised a ZenML repository in {}", root)
    return config_path
