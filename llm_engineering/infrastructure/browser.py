"""Headless Chromium through Selenium, for pages that need a real browser.

The driver is given explicitly (``Service(CHROMEDRIVER_PATH)``), so Selenium Manager never runs and
nothing is downloaded. Debian packages: ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from loguru import logger

from llm_engineering.exceptions import LLMTwinError
from llm_engineering.infrastructure.http import FetchError, NetworkPolicy, check_url
from llm_engineering.settings import get_settings

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,2000",
)


class BrowserError(LLMTwinError):
    """A page could not be loaded in the browser."""


class BrowserUnavailableError(BrowserError):
    """Chromium or chromedriver is missing or does not start."""


def chromium_problem(settings=None) -> str | None:
    """Why a browser cannot start here (missing binaries), or None when it can be tried."""
    s = settings or get_settings()
    for what, path in (("Chromium", s.CHROMIUM_PATH), ("chromedriver", s.CHROMEDRIVER_PATH)):
        if not Path(path).is_file() and not shutil.which(str(path)):
            return f"{what} not found at {path} (install the Debian packages chromium and chromium-driver)"
    return None


def start_browser(settings=None):
    """A new headless Chrome WebDriver; the caller must ``quit()`` it."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    s = settings or get_settings()
    problem = chromium_problem(s)
    if problem:
        raise BrowserUnavailableError(problem)
    options = webdriver.ChromeOptions()
    options.binary_location = str(s.CHROMIUM_PATH)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-agent={s.CRAWL_USER_AGENT}")
    if s.CHROMIUM_HOST_RESOLVER_RULES:
        options.add_argument(f"--host-resolver-rules={s.CHROMIUM_HOST_RESOLVER_RULES}")
    options.page_load_strategy = "eager"
    try:
        driver = webdriver.Chrome(service=Service(str(s.CHROMEDRIVER_PATH)), options=options)
    except WebDriverException as exc:
        raise BrowserUnavailableError(f"Chromium did not start: {exc.msg or exc}") from None
    driver.set_page_load_timeout(s.CRAWL_TIMEOUT_S)
    driver.set_script_timeout(s.CRAWL_TIMEOUT_S)
    logger.debug("started headless Chromium")
    return driver


class SharedBrowser:
    """One lazily started browser shared by a crawl's threads (a WebDriver is not thread-safe).

    ``with shared.page(url) as driver:`` holds the lock while the page is used.
    """

    def __init__(self, settings=None):
        self.settings = settings
        self._driver = None
        self._lock = threading.Lock()

    def page(self, url: str):
        return _Page(self, url)

    def close(self) -> None:
        with self._lock:
            if self._driver is not None:
                try:
                    self._driver.quit()
                finally:
                    self._driver = None


def _check_landing(url: str, settings) -> None:
    """Refuse a page the browser was redirected to on a private network (content not used)."""
    if not url.startswith(("http://", "https://")):
        return  # about:blank, data: error pages
    try:
        check_url(url, NetworkPolicy.from_settings(settings or get_settings()))
    except FetchError as exc:
        raise BrowserError(f"the browser ended on a refused page: {exc}") from None


class _Page:
    def __init__(self, shared: SharedBrowser, url: str):
        self.shared, self.url = shared, url

    def __enter__(self):
        from selenium.common.exceptions import TimeoutException, WebDriverException

        self.shared._lock.acquire()
        try:
            if self.shared._driver is None:
                self.shared._driver = start_browser(self.shared.settings)
            driver = self.shared._driver
            try:
                driver.get(self.url)
            except TimeoutException:
                raise BrowserError(f"page load timed out at {self.url}") from None
            except WebDriverException as exc:
                raise BrowserError(f"browser could not load {self.url}: {exc.msg or exc}") from None
            _check_landing(driver.current_url, self.shared.settings)
            return driver
        except BaseException:
            self.shared._lock.release()
            raise

    def __exit__(self, *exc) -> None:
        self.shared._lock.release()
