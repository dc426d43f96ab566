"""The offline ZenML dashboard: `tools.zenml_server up` shows the runs page, without the first-visit
survey, in real headless Chromium; `down` stops it; a busy port is refused with a clear message."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from conftest import open_chromium

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_NAME = "tiny_dashboard_pipeline"

TINY_PIPELINE = textwrap.dedent(
    f"""
    import sys
    from typing import Annotated

    from zenml import pipeline, step


    @step
    def greet() -> Annotated[str, "greeting"]:
        return "안녕하세요"


    @pipeline
    def {PIPELINE_NAME}() -> None:
        greet()


    if __name__ == "__main__":
        from llm_engineering.infrastructure.zenml_env import configure_zenml

        configure_zenml(repo_root=sys.argv[1])
        {PIPELINE_NAME}()
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def zenml_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
        "PYTHONPATH": str(ROOT),
    }


def server_cli(env, *args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "tools.zenml_server", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_dashboard_lists_the_pipeline_runs_without_the_onboarding_survey(tmp_path):
    if not (Path("/usr/bin/chromium").is_file() and Path("/usr/bin/chromedriver").is_file()):
        pytest.skip("needs the Debian packages chromium and chromium-driver")
    from selenium.webdriver.support.ui import WebDriverWait

    env = zenml_env(tmp_path)
    source = tmp_path / "source"
    source.mkdir()
    (source / f"{PIPELINE_NAME}.py").write_text(TINY_PIPELINE, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, f"{PIPELINE_NAME}.py", str(source)],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    port = free_port()
    up = server_cli(env, "up", "--port", str(port))
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        runs_url = f"http://127.0.0.1:{port}/projects/default/runs"
        assert runs_url in up.stdout
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).text.strip('"') == "ok"
        status = server_cli(env, "status")
        assert status.returncode == 0 and runs_url in status.stdout

        driver = open_chromium()
        try:
            driver.set_page_load_timeout(30)
            driver.get(runs_url)
            WebDriverWait(driver, 40, poll_frequency=0.5).until(
                lambda d: PIPELINE_NAME in d.find_element("tag name", "body").text
            )
            assert "survey" not in driver.current_url and "onboarding" not in driver.current_url
            assert driver.current_url.startswith(runs_url)
            shot = tmp_path / "dashboard_runs.png"
            driver.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
        finally:
            driver.quit()
    finally:
        down = server_cli(env, "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_up_on_a_busy_port_is_refused_with_a_clear_message(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = server_cli(zenml_env(tmp_path), "up", "--port", str(port))
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "zenml" / "zen_server" / "daemon" / "service.json").exists()
