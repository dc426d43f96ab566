"""Generation benchmark: transformers against ONNX Runtime GenAI on the same prompts and threads.

Through the project's own clients (``LocalLLM`` and ``FastLocalLLM``: same chat template, stops
and loop guard), for the base SmolLM2-135M-Instruct:

* speed: tokens/s and first-token latency (streamed) of each backend and thread count, greedy,
  idle and with one core kept busy by a spinning process pinned to it; rounds are interleaved so
  both backends see the same machine, and the load average is printed with each round;
* agreement: greedy answers of each ONNX precision compared with transformers' word for word;
* quality (``--quality N``): held-out loss of the answer tokens of N test samples of the book's
  instruct dataset, teacher-forced through each engine, with a paired bootstrap 95% interval of
  the difference to transformers (fp32);
* install size of the engine's packages.

    python -m tools.bench generation [--threads 1,2] [--precisions int4,int8,fp32] [--max-tokens 128]
        [--rounds 2] [--busy/--no-busy] [--speed/--no-speed] [--quality 60] [--dataset PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from tools.bench import HANDBOOK_DUMP

PROMPTS = [
    "What is an LLM twin?",
    "Write a short poem about the sea.",
    "Explain retrieval augmented generation in two sentences.",
    "Give three tips for writing a clear technical article.",
]


def busy_core() -> subprocess.Popen:
    """A process spinning on core 0 (a stand-in for another job sharing the machine)."""
    code = "import os\nos.sched_setaffinity(0, {0})\nwhile True: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def load() -> float:
    return round(os.getloadavg()[0], 2)


def measure(llm, max_tokens: int) -> dict:
    """Tokens/s over whole greedy answers and median time to the first streamed piece."""
    tokens, seconds, first = 0, 0.0, []
    for prompt in PROMPTS:
        messages = [{"role": "user", "content": prompt}]
        started = time.perf_counter()
        result = llm.chat(messages, max_tokens=max_tokens)
        seconds += time.perf_counter() - started
        tokens += result.completion_tokens
        started = time.perf_counter()
        stream = llm.stream(messages, max_tokens=4)
        next(stream, None)
        first.append(time.perf_counter() - started)
        stream.close()
    first.sort()
    return {"tokens_per_s": round(tokens / seconds, 1), "first_token_ms": round(1000 * first[len(first) // 2], 1)}


def clients(threads: list[int], precisions: list[str]):
    """(name, threads, client, set-up) for every backend and thread count."""
    import torch

    from llm_engineering.infrastructure.llm.local import LocalLLM
    from llm_engineering.infrastructure.llm.onnx_genai import FastLocalLLM

    transformers_llm = LocalLLM(stop_repeats=False)
    transformers_llm._ensure_loaded()
    out = []
    for n in threads:
        out.append(("transformers", n, transformers_llm, lambda n=n: torch.set_num_threads(n)))
        for precision in precisions:
            llm = FastLocalLLM(precision=precision, fallback=False, threads=n, stop_repeats=False)
            llm.backend  # noqa: B018 - converts (once) and loads now, outside the timings
            out.append((f"onnxruntime-{precision}", n, llm, lambda: None))
    return out


def agreement(clients_: list, max_tokens: int) -> dict:
    """Share of prompts whose greedy answer equals transformers' (and how many words match)."""
    reference = next(c for name, _, c, _ in clients_ if name == "transformers")
    questions = [[{"role": "user", "content": p}] for p in PROMPTS]
    expected = [r.text for r in reference.chat_batch(questions, max_tokens=max_tokens)]
    out = {}
    for name, _, llm, _ in clients_:
        if name == "transformers" or name in out:
            continue
        got = [llm.chat(q, max_tokens=max_tokens).text for q in questions]
        words = [
            _common_prefix(a.split(), b.split()) / max(1, len(b.split())) for a, b in zip(got, expected, strict=True)
        ]
        out[name] = {
            "identical": sum(a == b for a, b in zip(got, expected, strict=True)),
            "of": len(questions),
            "mean_share_of_words_before_first_difference": round(sum(words) / len(words), 3),
        }
    return out


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def answer_ids(tokenizer, messages, answer: str) -> tuple[list[int], list[int]]:
    """Prompt and answer token ids exactly as ``answer_loss`` scores them."""
    from llm_engineering.model.chat import render_chat

    prompt = render_chat(tokenizer, messages, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full = tokenizer(prompt + answer + (tokenizer.eos_token or ""), add_special_tokens=False)["input_ids"]
    if full[: len(prompt_ids)] != prompt_ids:
        full = prompt_ids + tokenizer(answer + (tokenizer.eos_token or ""), add_special_tokens=False)["input_ids"]
    return prompt_ids, full[len(prompt_ids) :]


def engine_loss(llm, prompt_ids: list[int], targets: list[int]) -> float:
    """Summed cross-entropy of ``targets`` after ``prompt_ids``, teacher-forced through the engine."""
    import numpy as np
    import onnxruntime_genai as og

    params = og.GeneratorParams(llm._engine)
    params.set_search_options(max_length=len(prompt_ids) + len(targets) + 1)
    generator = og.Generator(llm._engine, params)
    generator.append_tokens([prompt_ids])
    total = 0.0
    for target in targets:
        logits = np.asarray(generator.get_logits(), dtype=np.float64).reshape(-1)
        top = logits.max()
        total += float(top + math.log(np.exp(logits - top).sum()) - logits[target])
        generator.append_tokens([[target]])
    return total


def quality(clients_: list, dataset: Path, count: int) -> dict:
    """Held-out loss per engine and the paired 95% bootstrap interval of its difference to transformers."""
    from llm_engineering.application.evaluation.generation import answer_loss, messages_for
    from llm_engineering.application.evaluation.samples import load_samples

    samples = load_samples(str(dataset), "test", count)
    reference = next(c for name, _, c, _ in clients_ if name == "transformers")
    model, tokenizer = reference._ensure_loaded()
    base = [answer_loss(model, tokenizer, messages_for(s), s.reference) for s in samples]
    tokens = [n for _, n in base]
    zero = [(0.0, n) for n in tokens]
    low, high = _bootstrap(zero, base)
    out = {
        "samples": len(samples),
        "answer_tokens": sum(tokens),
        "transformers_fp32": {**_mean(base), "mean_loss_95ci": [round(low, 4), round(high, 4)]},
    }
    seen = set()
    for name, _, llm, _ in clients_:
        if name == "transformers" or name in seen:
            continue
        seen.add(name)
        losses = []
        for s in samples:
            prompt_ids, targets = answer_ids(tokenizer, messages_for(s), s.reference)
            losses.append(engine_loss(llm, prompt_ids, targets))
        per_sample = [(loss, n) for loss, n in zip(losses, tokens, strict=True)]
        low, high = _bootstrap(base, per_sample)
        out[name] = {**_mean(per_sample), "difference_95ci": [round(low, 4), round(high, 4)]}
    return out


def _mean(pairs) -> dict:
    total, count = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    return {"mean_loss": round(total / count, 4), "perplexity": round(math.exp(total / count), 3)}


def _bootstrap(a, b, rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of mean-loss(b) - mean-loss(a), resampling samples (paired)."""
    rng = random.Random(seed)
    n = len(a)
    diffs = []
    for _ in range(rounds):
        idx = [rng.randrange(n) for _ in range(n)]
        ta, na = sum(a[i][0] for i in idx), sum(a[i][1] for i in idx)
        tb, nb = sum(b[i][0] for i in idx), sum(b[i][1] for i in idx)
        diffs.append(tb / nb - ta / na)
    diffs.sort()
    return diffs[int(0.025 * rounds)], diffs[int(0.975 * rounds) - 1]


def install_size() -> dict:
    import importlib.util

    sizes = {}
    for package in ("onnxruntime_genai", "onnxruntime", "onnx", "onnx_ir", "torch", "transformers"):
        spec = importlib.util.find_spec(package)
        if spec and spec.submodule_search_locations:
            folder = Path(list(spec.submodule_search_locations)[0])
            sizes[package] = round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20, 1)
    return {"installed_mb": sizes}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench generation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--precisions", default="int4,int8,fp32", help="ONNX precisions to measure")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per condition")
    parser.add_argument("--speed", action=argparse.BooleanOptionalAction, default=True, help="measure speed")
    parser.add_argument("--busy", action=argparse.BooleanOptionalAction, default=True, help="also with one core busy")
    parser.add_argument("--quality", type=int, default=0, help="held-out samples for the loss comparison (0: skip)")
    parser.add_argument("--dataset", type=Path, default=HANDBOOK_DUMP / "instruct_datasets.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    threads = [int(t) for t in args.threads.split(",")]
    started = time.perf_counter()
    clients_ = clients(threads, [p for p in args.precisions.split(",") if p])
    out: dict = {
        "prompts": len(PROMPTS),
        "max_tokens": args.max_tokens,
        "setup_s": round(time.perf_counter() - started, 1),
    }
    out.update(install_size())
    out["agreement_with_transformers"] = agreement(clients_, args.max_tokens)
    for _name, _n, llm, setup in clients_ if args.speed else ():  # warm-up
        setup()
        llm.chat([{"role": "user", "content": "Hi"}], max_tokens=4)
    conditions = (["idle", "one_core_busy"] if args.busy else ["idle"]) if args.speed else []
    runs: dict = {}
    for round_ in range(args.rounds):
        for condition in conditions:
            spinner = busy_core() if condition == "one_core_busy" else None
            try:
                time.sleep(0.5 if spinner else 0)
                for name, n, llm, setup in clients_:
                    setup()
                    result = {**measure(llm, args.max_tokens), "load": load()}
                    runs.setdefault(condition, {}).setdefault(f"{name}/{n}t", []).append(result)
                    print(
                        json.dumps({"round": round_, "condition": condition, "backend": f"{name}/{n}t", **result}),
                        file=sys.stderr,
                    )
            finally:
                if spinner:
                    spinner.kill()
                    spinner.wait()
    summary: dict = {}
    for condition, by_backend in runs.items():
        for key, results in by_backend.items():
            summary.setdefault(condition, {})[key] = {
                "tokens_per_s": max(r["tokens_per_s"] for r in results),
                "first_token_ms": min(r["first_token_ms"] for r in results),
                "loads": [r["load"] for r in results],
            }
    for condition, table in summary.items():
        for key, row in table.items():
            base = table.get(f"transformers/{key.split('/')[1]}")
            row["x_transformers"] = round(row["tokens_per_s"] / base["tokens_per_s"], 2) if base else None
            idle = summary["idle"].get(key)
            if condition != "idle" and idle:
                row["slowdown_vs_idle"] = round(idle["tokens_per_s"] / row["tokens_per_s"], 2)
    if summary:
        out["speed"] = summary
    if args.quality:
        out["held_out_loss"] = quality(clients_, args.dataset, args.quality)
    print(json.dumps(out, indent=2))
