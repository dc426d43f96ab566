"""The ETL run configuration is checked before anything runs."""

from __future__ import annotations

import pytest

from llm_engineering.application.etl import LinkOutcome, summarize, summary_table, validate_etl_parameters
from llm_engineering.exceptions import ConfigurationError


@pytest.mark.parametrize(
    ("name", "links", "message"),
    [
        (None, ["https://example.org/a"], "user_full_name"),
        ("  ", ["https://example.org/a"], "user_full_name"),
        ("Dana Kim", "https://example.org/a", "must be a list"),
        ("Dana Kim", {"a": 1}, "must be a list"),
        ("Dana Kim", None, "must be a list"),
        ("Dana Kim", [], "empty"),
        ("Dana Kim", ["https://example.org/a", 3], r"items \[1\]"),
    ],
)
def test_bad_configs_stop_with_a_clear_message(name, links, message):
    with pytest.raises(ConfigurationError, match=message):
        validate_etl_parameters(name, links)


def test_good_config_is_normalised():
    assert validate_etl_parameters(" 김민지 ", [" https://velog.io/@minji/a "]) == (
        "김민지",
        ["https://velog.io/@minji/a"],
    )


def test_summary_counts_and_table_name_each_failure():
    outcomes = [
        LinkOutcome(link="https://example.org/a", status="ok", crawler="article", documents=1),
        LinkOutcome(
            link="https://example.org/b", status="skipped", crawler="article", reason="already in the warehouse"
        ),
        LinkOutcome(link="ftp://x/y", status="failed", reason="unsupported scheme ftp:"),
    ]
    summary = summarize(outcomes)
    assert (summary["ok"], summary["skipped"], summary["failed"], summary["documents_written"]) == (1, 1, 1, 1)
    assert summary["failures"] == {"ftp://x/y": "unsupported scheme ftp:"}
    table = summary_table(outcomes)
    assert "unsupported scheme ftp:" in table and "1 ok, 1 skipped, 1 failed" in table
