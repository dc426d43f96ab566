"""Converting a Hugging Face model folder into the fast backend's ONNX copy (ONNX Runtime GenAI).

Its own module so that the registry (which builds a version's copy at publish time) and model
loading (which builds one on first use) share it without importing each other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loguru import logger

from llm_engineering.exceptions import ConfigurationError, LLMTwinError
from llm_engineering.files import staged_folder
from llm_engineering.model.errors import ModelNotFoundError

ONNX_PRECISIONS = ("int4", "int8", "fp32")
ONNX_MARKER = "conversion.json"  # written last: a folder without it is incomplete
# The language-model head computes the last position's logits only while a prompt is read: generation
# never looks at the others. Same weights and tokens; a 5,000-token prompt is read ~10% faster.
BUILDER_OPTIONS = ("prune_lm_head=true",)


def is_onnx_folder(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (ONNX_MARKER, "genai_config.json", "model.onnx"))


def convert_to_onnx(model_dir: Path, target: Path, precision: str = "int8") -> Path:
    """Convert a Hugging Face model folder for ONNX Runtime GenAI with its model builder (CPU,
    ``precision`` weights), offline. Built in a staging folder with a marker file and renamed into
    place, so a crash never leaves a half-written copy that looks complete."""
    if precision not in ONNX_PRECISIONS:
        raise ConfigurationError(f"unknown ONNX precision {precision!r}; expected one of {ONNX_PRECISIONS}")
    if not (Path(model_dir) / "config.json").is_file():
        raise ModelNotFoundError(f"{model_dir} is not a Hugging Face model folder (no config.json)")
    logger.info("converting {} for onnxruntime-genai ({}) into {} (once)", model_dir, precision, target)
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.work.", dir=target.parent) as work:
        with staged_folder(target) as out:
            out.chmod(0o755)
            _run_builder(model_dir, out, Path(work), precision)
            import onnxruntime_genai

            marker = {
                "source": str(model_dir),
                "precision": precision,
                "options": list(BUILDER_OPTIONS),
                "engine": onnxruntime_genai.__version__,
            }
            (out / ONNX_MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    logger.info("converted {} in {:.0f}s", target.name, time.perf_counter() - started)
    return target


def _run_builder(model_dir: Path, out: Path, work: Path, precision: str) -> None:
    """ONNX Runtime GenAI's model builder in a subprocess (offline, one thread); a failure names its last lines."""
    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(model_dir)]
    command += ["-o", str(out), "-p", precision, "-e", "cpu", "-c", str(work), "--extra_options", *BUILDER_OPTIONS]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0 or not (out / "genai_config.json").is_file():
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
        raise LLMTwinError(f"the ONNX conversion of {model_dir} failed: {' / '.join(tail) or done.returncode}")
