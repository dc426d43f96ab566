"""What the user sees while a job runs: log level, library warnings and progress on long loops.

``configure_logging()`` is called once by each command-line entry point (nothing happens at import):
loguru prints INFO and above by default (``LOG_LEVEL=DEBUG`` shows the details). Unless the level is
DEBUG or lower, what only a library's own developers can act on is hidden: ``FutureWarning``,
``DeprecationWarning`` and a few known ``UserWarning`` texts, the progress bars of Hugging Face's
libraries (loading weights, writing shards, tokenizing a dataset: each over in a second or two) and
transformers' advice meant for its developers.

``progress(total, "what")`` wraps a long loop. On a terminal it draws a tqdm bar (items/s) on
stderr that keeps its clock moving even while one slow batch runs; elsewhere (CI logs, files) it
writes a log line at least every ``every_s`` seconds, so a log never stays silent for minutes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from loguru import logger

from llm_engineering.exceptions import LLMTwinError
from llm_engineering.settings import check_log_level, get_settings

DEFAULT_LEVEL = "INFO"
FORMAT = "<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> {message}"

# UserWarnings raised inside libraries about their own internals; nothing in this project's
# settings changes them, so they only hide the lines that matter.
_LIBRARY_USER_WARNINGS = (
    r".*`torch_dtype` is deprecated.*",
    r".*loss_type=None.*",
    r".*pin_memory.*",
    r".*TypedStorage is deprecated.*",
    r".*padding_side.*",
    r".*Merge.*LoRA.*",
    r".*`resume_download` is deprecated.*",
)


# Environment switches read by Hugging Face's libraries when they are imported.
_PROGRESS_BAR_SWITCHES = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS")


_last_output = time.monotonic()
# The stderr of the command, kept when logging is configured: inside a ZenML step sys.stderr is the
# orchestrator's capture, which would keep a step's warnings and errors from the user's terminal.
_stream = sys.stderr


def _mark_output() -> None:
    global _last_output
    _last_output = time.monotonic()


def _write(message: str) -> None:
    """Log lines go through tqdm so a progress bar on the terminal is redrawn below them."""
    from tqdm import tqdm

    _mark_output()
    tqdm.write(message, file=_stream, end="")


@contextmanager
def heartbeat(what: str, quiet_s: float = 20.0) -> Iterator[None]:
    """While the block runs, log ``what: still running`` whenever nothing was shown for ``quiet_s``
    seconds (model conversion, a slow import, a step without its own progress)."""
    stop = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not stop.wait(1.0):
            if time.monotonic() - _last_output >= quiet_s:
                logger.info("{}: still running, {:.0f}s so far", what, time.monotonic() - started)

    _mark_output()
    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def configure_logging(level: str | None = None) -> str:
    """Send loguru to stderr at ``level`` (default: the ``LOG_LEVEL`` setting) and quiet library
    warnings above DEBUG. Returns the level in force. Safe to call more than once."""
    if level is None:
        level = get_settings().LOG_LEVEL
    level = check_log_level(level)
    global _stream
    _stream = sys.stderr
    logger.remove()
    logger.add(_write, level=level, format=FORMAT, colorize=sys.stderr.isatty())
    verbose = logger.level(level).no <= logger.level("DEBUG").no
    if not verbose:
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)
        for text in _LIBRARY_USER_WARNINGS:
            warnings.filterwarnings("ignore", message=text, category=UserWarning)
        _quiet_library_progress_bars()
        try:  # transformers' own logger repeats advice meant for its developers
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
        except ImportError:
            pass
    return level


def _quiet_library_progress_bars() -> None:
    """No progress bars from huggingface_hub, transformers (it follows huggingface_hub) and datasets;
    an explicit setting of their environment switches wins."""
    for name in _PROGRESS_BAR_SWITCHES:
        os.environ.setdefault(name, "1")
    if os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1":
        # libraries imported before this call read the switches already
        if "huggingface_hub" in sys.modules:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        if "transformers" in sys.modules:
            from transformers.utils.logging import disable_progress_bar

            disable_progress_bar()
    if os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1" and "datasets" in sys.modules:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()


def logging_callback() -> None:
    """A Typer app callback: ``configure_logging()`` before any command; an invalid ``LOG_LEVEL``
    is one line on stderr and exit code 2."""
    import typer

    try:
        configure_logging()
    except LLMTwinError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


class Progress:
    """Counts finished items of one loop; see ``progress``."""

    def __init__(self, total: int, what: str, unit: str, every_s: float, interactive: bool) -> None:
        self.total, self.what, self.unit, self.every_s = total, what, unit, every_s
        self.done = 0
        self.started = time.perf_counter()
        self._last_line = self.started
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._bar = None
        if interactive:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False)
        self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        if total:
            self._ticker.start()

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self, state: str = "") -> str:
        elapsed = time.perf_counter() - self.started
        return f"{self.what}: {self.done}/{self.total}{state}, {self.rate():.2f} {self.unit}/s, {elapsed:.0f}s"

    def update(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                if self._bar is not None:
                    self._bar.refresh()  # the elapsed time moves even inside one long batch
                    _mark_output()
                elif time.perf_counter() - self._last_line >= self.every_s:
                    self._last_line = time.perf_counter()
                    logger.info(self.line())

    def close(self) -> None:
        self._stop.set()
        if self._ticker.is_alive():
            self._ticker.join()
        if self._bar is not None:
            self._bar.close()
        if self.total:  # a summary, worth a line at INFO when the loop was long enough to be watched
            elapsed = time.perf_counter() - self.started
            logger.log("INFO" if elapsed >= 2 else "DEBUG", self.line(" done"))


@contextmanager
def progress(
    total: int, what: str, unit: str = "item", every_s: float = 20.0, interactive: bool | None = None
) -> Iterator[Progress]:
    """A progress bar on a terminal, else a log line at least every ``every_s`` seconds; a summary
    line (count, items/s, seconds) at the end. Nothing is shown for an empty loop."""
    if interactive is None:
        interactive = sys.stderr.isatty()
    bar = Progress(total, what, unit, every_s, interactive and total > 0)
    try:
        yield bar
    finally:
        bar.close()
