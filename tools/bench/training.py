"""Benchmark: a short SFT (and DPO) run of the default base model on the CPU; prints JSON.

    python -m tools.bench training [--instruct FILE] [--preference FILE] [--sft-steps 5] [--dpo-steps 3]

The files are the book's published datasets (``{"train": {category: {"samples": [...]}}, "test": ...}``),
converted here to the project's chat format; by default they are read from
``../shared/corpora/llm-engineers-handbook`` beside the repository. Nothing is kept unless ``--output DIR``
names a folder for the run (``DIR/sft/model``, ``DIR/dpo/model``: pass one to ``tools.bench evaluation
--tuned``). Report timings together with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from tools.bench import HANDBOOK_DUMP


def book_split(data: dict, split: str, preference: bool) -> list[dict]:
    rows = []
    for category, block in data[split].items():
        for sample in block["samples"]:
            prompt = [{"role": "user", "content": sample["instruction"]}]
            if preference:
                rows.append(
                    {
                        "prompt": prompt,
                        "chosen": [{"role": "assistant", "content": sample["chosen"]}],
                        "rejected": [{"role": "assistant", "content": sample["rejected"]}],
                        "category": category,
                    }
                )
            else:
                rows.append(
                    {
                        "prompt": prompt,
                        "completion": [{"role": "assistant", "content": sample["answer"]}],
                        "category": category,
                    }
                )
    return rows


def load_book_dataset(path: Path, preference: bool):
    from datasets import Dataset, DatasetDict

    data = json.loads(path.read_text(encoding="utf-8"))
    return DatasetDict({s: Dataset.from_list(book_split(data, s, preference)) for s in ("train", "test")})


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench training", description=__doc__)
    parser.add_argument("--instruct", type=Path, default=HANDBOOK_DUMP / "instruct_datasets.json")
    parser.add_argument("--preference", type=Path, default=HANDBOOK_DUMP / "preference_datasets.json")
    parser.add_argument("--sft-steps", type=int, default=5)
    parser.add_argument("--dpo-steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--eval-samples", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-4, help="SFT learning rate")
    parser.add_argument("--lora-r", type=int, default=32)
    parser.add_argument("--output", type=Path, default=None, help="keep the run here (default: temporary)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("TORCH_NUM_THREADS", "1")))
    args = parser.parse_args(argv)

    import torch

    from llm_engineering.model.finetuning.dpo import DPORunConfig, run_dpo
    from llm_engineering.model.finetuning.lora import LoraSettings
    from llm_engineering.model.finetuning.sft import SFTRunConfig, run_sft
    from llm_engineering.model.loading import resolve_model_dir

    torch.set_num_threads(args.threads)
    report: dict = {"threads": args.threads, "load_average": os.getloadavg()}
    started = time.perf_counter()
    base = resolve_model_dir()
    report["base_model_ready_s"] = round(time.perf_counter() - started, 1)
    with tempfile.TemporaryDirectory(prefix="bench-training-") as scratch:
        tmp = args.output or scratch
        instruct = load_book_dataset(args.instruct, preference=False)
        sft_config = SFTRunConfig(
            learning_rate=args.lr,
            max_steps=args.sft_steps,
            per_device_train_batch_size=args.batch,
            gradient_accumulation_steps=1,
            warmup_steps=0,
            max_length=args.max_length,
            max_eval_samples=args.eval_samples,
            save_steps=10_000,
            lora=LoraSettings(r=args.lora_r, alpha=args.lora_r),
        )
        t0 = time.perf_counter()
        sft = run_sft(instruct, sft_config, output_dir=Path(tmp) / "sft", device="cpu")
        m = sft.metrics
        report["sft"] = {
            "steps": m["global_step"],
            "batch": args.batch,
            "learning_rate": args.lr,
            "lora_r": args.lora_r,
            "train_tokens": m["train_tokens"],
            "tokens_per_second": m["tokens_per_second"],
            "seconds_per_step": round(m["train_runtime_s"] / max(m["global_step"], 1), 2),
            "eval_loss_before": m["eval_loss_before"],
            "eval_loss_after": m["eval_loss"],
            "wall_s_with_eval_merge_save": round(time.perf_counter() - t0, 1),
        }
        if args.output:
            report["sft"]["model_dir"] = str(sft.model_dir)
        if args.dpo_steps > 0:
            preference = load_book_dataset(args.preference, preference=True)
            dpo_config = DPORunConfig(
                max_steps=args.dpo_steps,
                learning_rate=5e-5,
                per_device_train_batch_size=2,
                gradient_accumulation_steps=1,
                warmup_steps=0,
                max_length=args.max_length,
                max_eval_samples=min(args.eval_samples, 8),
                save_steps=10_000,
            )
            t0 = time.perf_counter()
            dpo = run_dpo(preference, dpo_config, model_id=sft.model_dir, output_dir=Path(tmp) / "dpo", device="cpu")
            d = dpo.metrics
            report["dpo"] = {
                "steps": d["global_step"],
                "tokens_per_second": d["tokens_per_second"],
                "seconds_per_step": round(d["train_runtime_s"] / max(d["global_step"], 1), 2),
                "eval_rewards": d["eval_rewards"],
                "wall_s_with_eval_merge_save": round(time.perf_counter() - t0, 1),
            }
            if args.output:
                report["dpo"]["model_dir"] = str(dpo.model_dir)
    report["base_model"] = str(base)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    report["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))
