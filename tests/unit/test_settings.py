"""Settings: defaults need no key, bad values are named clearly, secrets never leak."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llm_engineering.exceptions import ConfigurationError
from llm_engineering.settings import Settings, get_settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
PLANTED = "sk-planted-4f1b2c9d8e7a"


def test_defaults_need_no_key_and_are_embedded(data_dir):
    s = get_settings()
    assert s.DATABASE_HOST == "" and s.QDRANT_URL == ""
    assert s.LLM_API_KEY is None and s.API_KEY is None
    assert s.warehouse_path == data_dir / "warehouse.sqlite3"
    assert s.qdrant_path == data_dir / "qdrant"


def test_env_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("DATABASE_NAME=from_env_file\nTORCH_NUM_THREADS=1\n")
    s = load_settings()
    assert s.DATABASE_NAME == "from_env_file" and s.TORCH_NUM_THREADS == 1


def test_empty_values_mean_default(tmp_path):
    (tmp_path / ".env").write_text("TORCH_NUM_THREADS=\nQDRANT_PATH=\n")
    s = load_settings()
    assert s.TORCH_NUM_THREADS is None and s.QDRANT_PATH is None


@pytest.mark.parametrize(
    "line, name",
    [
        ("TORCH_NUM_THREADS=lots", "TORCH_NUM_THREADS"),
        ("TORCH_NUM_THREADS=0", "TORCH_NUM_THREADS"),
        ("DATABASE_TIMEOUT_S=-3", "DATABASE_TIMEOUT_S"),
        ("DATABASE_HOST=postgres://x", "DATABASE_HOST"),
        ("QDRANT_URL=localhost:6333", "QDRANT_URL"),
        ("DATABASE_TIMEOUT_S=soon", "DATABASE_TIMEOUT_S"),
    ],
)
def test_malformed_env_values_name_the_setting(tmp_path, line, name):
    (tmp_path / ".env").write_text(line + "\n")
    with pytest.raises(ConfigurationError, match=name):
        load_settings()


def test_secret_values_never_appear_in_repr_logs_or_errors(tmp_path, monkeypatch, capsys):
    from loguru import logger

    monkeypatch.setenv("LLM_API_KEY", PLANTED)
    monkeypatch.setenv("QDRANT_API_KEY", PLANTED)
    s = load_settings()
    assert s.LLM_API_KEY.get_secret_value() == PLANTED
    logger.info("settings in use: {}", s)
    texts = [repr(s), str(s), s.model_dump_json(), capsys.readouterr().err]
    # an invalid secret-typed value is reported without echoing it
    monkeypatch.setenv("TORCH_NUM_THREADS", PLANTED)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    texts.append(str(err.value))
    assert not any(PLANTED in t for t in texts)


def test_env_example_documents_every_setting():
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.M))
    assert set(Settings.model_fields) <= documented, set(Settings.model_fields) - documented
