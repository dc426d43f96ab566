"""ZenML set-up kept inside the project: config, SQLite store and artifacts under DATA_DIR.

Call ``configure_zenml()`` before the first ``import zenml`` of a process (tools do it for you).

ZenML writes absolute paths: the SQLite store's address in ``config.yaml`` and the location of
every artifact, visualisation and log file in the store. When the project folder (or only its
ZenML folder) has moved, ``configure_zenml()`` rewrites those paths to the folder's new place
before ZenML opens the store, so old runs and their artifacts still open.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from loguru import logger

from llm_engineering.settings import get_settings


def configure_zenml(settings=None, repo_root: str | Path = ".") -> Path:
    """Point ZenML at the project's folder, switch analytics off, and ``zenml init`` if needed.

    Explicit ``ZENML_*`` environment variables win over the project's defaults.
    Returns the ZenML config path.
    """
    settings = settings or get_settings()
    config_path = Path(os.environ.get("ZENML_CONFIG_PATH") or settings.zenml_config_path).resolve()
    config_path.mkdir(parents=True, exist_ok=True)
    relocate_zenml_folder(config_path)
    os.environ["ZENML_CONFIG_PATH"] = str(config_path)
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", str(settings.ZENML_ANALYTICS_OPT_IN).lower())
    os.environ.setdefault("ZENML_ENABLE_REPO_INIT_WARNINGS", "false")
    os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARN")
    os.environ.setdefault("AUTO_OPEN_DASHBOARD", "false")
    logging.getLogger("zenml.zen_stores.base_zen_store").addFilter(_first_use_notice)
    root = Path(repo_root).resolve()
    if not (root / ".zen").is_dir():
        from zenml.client import Client

        Client.initialize(root=root)
        logger.debug("initialised a ZenML repository in {}", root)
    return config_path


def _first_use_notice(record: logging.LogRecord) -> bool:
    """False for ZenML's warning that a brand-new store gets the default stack: expected on the
    first run of every fresh clone, and nothing to act on."""
    return record.msg != "Setting the %s active stack to default."


STORE = Path("local_stores") / "default_zen_store" / "zenml.db"
# Tables whose ``uri`` column holds a file under the ZenML folder (artifact data, previews, step logs).
URI_TABLES = ("artifact_version", "artifact_visualization", "logs")
SQLITE_PREFIX = "sqlite:///"


def relocate_zenml_folder(config_path: Path) -> Path | None:
    """Repoint a ZenML folder that was moved or copied to ``config_path``; returns its old place.

    Only the embedded set-up is touched: a ``config.yaml`` whose SQLite store is the default one
    inside its own folder, now found at ``config_path``. A remote server, or a store elsewhere,
    is left alone (None), as is a folder that has not moved.
    """
    import sqlite3

    import yaml

    config_file = config_path / "config.yaml"
    if not config_file.is_file() or not (config_path / STORE).is_file():
        return None
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    store = config.get("store") or {}
    url = str(store.get("url") or "")
    if not url.startswith(SQLITE_PREFIX):
        return None
    database = Path(url[len(SQLITE_PREFIX) :])
    if database == config_path / STORE or database.parts[-len(STORE.parts) :] != STORE.parts:
        return None
    old = database.parents[len(STORE.parts) - 1]
    with sqlite3.connect(config_path / STORE) as db:
        for table in URI_TABLES:
            db.execute(
                f"UPDATE {table} SET uri = ? || substr(uri, ?) WHERE substr(uri, 1, ?) = ?",  # noqa: S608 (fixed names)
                (str(config_path) + os.sep, len(str(old)) + 2, len(str(old)) + 1, str(old) + os.sep),
            )
    db.close()
    for key in ("url", "database", "backup_directory"):
        if isinstance(store.get(key), str) and str(old) in store[key]:
            store[key] = store[key].replace(str(old), str(config_path), 1)
    config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    logger.info("ZenML folder moved from {} to {}: stored paths updated", old, config_path)
    return old
