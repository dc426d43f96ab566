"""The local ZenML dashboard: start, stop and inspect it, fully offline.

The server is ZenML's own local deployment (the one ``zenml login --local`` makes): a daemon
process on 127.0.0.1 that reads the same SQLite store as the pipelines (DATA_DIR/zenml), so every
run, step and artifact is visible in the browser. The client is left on the SQLite store unless
``connect=True``: pipelines then keep working whether or not the dashboard is running.

The first visit to a fresh dashboard asks the local user an onboarding survey; ``start_dashboard``
answers it once through the server's REST API so the runs page opens directly.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from loguru import logger

from llm_engineering.exceptions import LLMTwinError

HOST = "127.0.0.1"
DEFAULT_PORT = 8237
RUNS_PAGE = "/projects/default/runs"
DEFAULT_USER = "default"
ONBOARDING_DONE = {"finished_onboarding_survey": True, "awareness_channels": ["other"]}


class DashboardError(LLMTwinError):
    """The local ZenML dashboard could not be started, reached or stopped."""


@dataclass(frozen=True)
class DashboardStatus:
    running: bool
    url: str | None
    port: int | None
    client_connected: bool

    @property
    def runs_url(self) -> str | None:
        return runs_page_url(self.url) if self.url else None


def runs_page_url(base_url: str) -> str:
    return base_url.rstrip("/") + RUNS_PAGE


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_until_healthy(base_url: str, timeout_s: float = 60.0) -> None:
    """Poll ``/health`` until the server answers ``ok``; DashboardError after ``timeout_s``."""
    import httpx

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(base_url.rstrip("/") + "/health", timeout=2.0)
            if response.status_code == 200 and "ok" in response.text:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise DashboardError(f"the ZenML server at {base_url} did not become healthy in {timeout_s:.0f}s ({last})")


def skip_onboarding(base_url: str, username: str = DEFAULT_USER, password: str = "", timeout_s: float = 10.0) -> None:
    """Mark the onboarding survey as answered for ``username`` so the dashboard opens on its pages.

    Logs in like the dashboard does (``POST /api/v1/login`` with a password grant; the local
    server's default user has an empty password), then updates the current user.
    """
    import httpx

    api = base_url.rstrip("/") + "/api/v1"
    try:
        with httpx.Client(timeout=timeout_s) as http:
            login = http.post(f"{api}/login", data={"username": username, "password": password})
            if login.status_code != 200:
                raise DashboardError(
                    f"cannot log in to the ZenML server at {base_url} as {username!r} (HTTP {login.status_code})"
                )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            current = http.get(f"{api}/current-user", params={"hydrate": True}, headers=headers)
            current.raise_for_status()
            metadata = dict((current.json().get("metadata") or {}).get("user_metadata") or {})
            if all(metadata.get(key) == value for key, value in ONBOARDING_DONE.items()):
                return
            metadata.update(ONBOARDING_DONE)
            update = http.put(
                f"{api}/current-user", json={"email_opted_in": False, "user_metadata": metadata}, headers=headers
            )
            update.raise_for_status()
    except httpx.HTTPError as exc:
        raise DashboardError(f"cannot update the dashboard user at {base_url}: {exc}") from None
    logger.info("onboarding survey marked as done for the dashboard user {!r}", username)


def _deployer():
    from zenml.zen_server.deploy.deployer import LocalServerDeployer

    return LocalServerDeployer()


def _local_server():
    from zenml.zen_server.deploy.exceptions import ServerDeploymentNotFoundError

    try:
        return _deployer().get_server()
    except ServerDeploymentNotFoundError:
        return None


def dashboard_status() -> DashboardStatus:
    """Whether the local server runs, where, and whether the client talks to it."""
    from zenml.enums import ServiceState

    server = _local_server()
    if server is None or server.status is None:
        return DashboardStatus(running=False, url=None, port=None, client_connected=False)
    running = server.status.status == ServiceState.ACTIVE and bool(server.status.url)
    return DashboardStatus(
        running=running,
        url=server.status.url,
        port=getattr(server.config, "port", None),
        client_connected=running and server.status.connected,
    )


def _server_config(port: int, blocking: bool):
    from zenml.enums import ServerProviderType
    from zenml.zen_server.deploy.daemon.daemon_zen_server import DaemonServerDeploymentConfig

    return DaemonServerDeploymentConfig(
        provider=ServerProviderType.DAEMON, port=port, ip_address=HOST, blocking=blocking
    )


def start_dashboard(port: int = DEFAULT_PORT, connect: bool = False, timeout_s: float = 60.0, on_ready=None) -> str:
    """Start the dashboard as a background daemon (or reuse a running one); returns its base URL.

    Call ``configure_zenml()`` first. ``connect=True`` also points this ZenML client at the
    server (what ``zenml login --local`` does); ``on_ready(url)`` is called once it answers.
    """
    from zenml.zen_server.deploy.exceptions import ServerDeploymentError

    current = dashboard_status()
    if not (current.running and current.port == port) and not port_is_free(port):
        raise DashboardError(f"port {port} on {HOST} is already in use; choose another with --port")
    try:
        server = _deployer().deploy_server(_server_config(port, blocking=False), timeout=int(timeout_s))
    except (ServerDeploymentError, RuntimeError) as exc:
        raise DashboardError(f"the local ZenML server did not start: {exc}") from None
    url = (server.status.url if server.status else None) or f"http://{HOST}:{port}"
    wait_until_healthy(url, timeout_s)
    skip_onboarding(url)
    if connect:
        try:
            _deployer().connect_to_server()
        except ServerDeploymentError as exc:
            raise DashboardError(f"cannot connect the ZenML client to {url}: {exc}") from None
    if on_ready:
        on_ready(url)
    return url


def serve_dashboard_blocking(port: int = DEFAULT_PORT, timeout_s: float = 60.0, on_ready=None) -> None:
    """Run the dashboard in this process until interrupted (Ctrl+C)."""
    from zenml.zen_server.deploy.exceptions import ServerDeploymentError

    stop_dashboard()
    if not port_is_free(port):
        raise DashboardError(f"port {port} on {HOST} is already in use; choose another with --port")
    url = f"http://{HOST}:{port}"

    def prepare() -> None:
        try:
            wait_until_healthy(url, timeout_s)
            skip_onboarding(url)
        except DashboardError as exc:
            logger.error("{}", exc)
            return
        if on_ready:
            on_ready(url)

    threading.Thread(target=prepare, name="dashboard-onboarding", daemon=True).start()
    try:
        _deployer().deploy_server(_server_config(port, blocking=True))
    except (ServerDeploymentError, RuntimeError) as exc:
        raise DashboardError(f"the local ZenML server stopped: {exc}") from None


def stop_dashboard() -> bool:
    """Stop the local server and put the client back on the SQLite store; False if none ran."""
    from zenml.zen_server.deploy.exceptions import ServerDeploymentError

    if _local_server() is None:
        return False
    try:
        _deployer().remove_server()
    except ServerDeploymentError as exc:
        raise DashboardError(f"the local ZenML server could not be stopped: {exc}") from None
    logger.info("local ZenML server stopped")
    return True
