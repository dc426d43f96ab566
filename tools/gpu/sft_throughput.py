"""SFT throughput on a GPU: plain TRL ``SFTTrainer`` (padded batches) against the packed trainer.

Both runs start from the same weights, see the same examples in the same 32-example groups per
optimiser step, with the same learning-rate schedule, and are scored by the same evaluation
function (completion-token loss on the test split), so tokens/s, MFU and eval loss compare
directly. Tokens are counted without padding.

    python tools/gpu/sft_throughput.py --data instruct_datasets.json --model-dir <folder with
        config.json + tokenizer> [--weights] [--steps 60] [--batch 32] --out results.json

Then ``--sweep`` trains the packed model again from the same weights with larger token budgets
per step (examples per step, learning rate, steps), each scored by the same function, so the
report can name the fastest run whose eval loss is no worse than the baseline's.

Without ``--weights`` the model is randomly initialised from ``config.json`` (exact for speed;
for the eval-loss comparison all runs share that initialisation). ``--tiny`` shrinks the model
for a quick check on a CPU. ``tools/gpu/prepare.sh`` gathers what a GPU machine without the
project's environment needs; ``tools/gpu/run.sh`` runs it there.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.gpu import packed as P  # noqa: E402

# examples per step : learning rate : steps. The baseline's 60 x 32 examples is 0.85 of an epoch.
# The compiled run comes last: a slow or failing compile cannot cost the others (each is saved).
DEFAULT_SWEEP = (
    "128:1e-3:20,256:1e-3:16,256:2e-3:16,256:2e-3:32,512:2e-3:16,512:4e-3:16,1024:4e-3:12,256:2e-3:16:compile"
)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def load_rows(path: Path) -> tuple[list[dict], list[dict]]:
    """The book's instruct dataset JSON → rows in the project's prompt/completion format."""
    data = json.loads(path.read_text(encoding="utf-8"))

    def rows(split):
        out = []
        for category in data[split].values():
            for s in category["samples"]:
                out.append(
                    {
                        "prompt": [{"role": "user", "content": s["instruction"]}],
                        "completion": [{"role": "assistant", "content": s["answer"]}],
                    }
                )
        return out

    return rows("train"), rows("test")


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def flops_per_token(config, mean_len: float) -> float:
    d, layers = config.hidden_size, config.num_hidden_layers
    kv = config.num_key_value_heads * (d // config.num_attention_heads)
    per_layer = d * d * 2 + d * kv * 2 + 3 * d * config.intermediate_size  # q,o + k,v + mlp
    matmul_params = layers * per_layer + config.vocab_size * d  # + lm_head
    return 6 * matmul_params + 6 * layers * d * mean_len  # causal attention, fwd + bwd


def peak_flops() -> float | None:
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16.items() if k in name), None)


def profile_table(prof, n=12) -> str:
    key = "self_cuda_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=n, max_name_column_width=60)


def run_baseline(args, model, tokenizer, train_rows, groups, out_dir: Path) -> dict:
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    ordered = [train_rows[i] for g in groups for i in g]  # the same groups, in the same order
    dataset = Dataset.from_list(ordered)

    class Sequential(SFTTrainer):
        def _get_train_sampler(self, *a, **k):
            return SequentialSampler(self.train_dataset)

    marks: list[tuple[int, float, int]] = []

    class Timer(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            sync()
            marks.append((state.global_step, time.perf_counter(), state.num_input_tokens_seen))

    cuda = torch.cuda.is_available()
    config = SFTConfig(
        output_dir=str(out_dir),
        per_device_train_batch_size=args.batch,
        max_steps=args.steps,
        learning_rate=args.lr,
        warmup_steps=args.warmup,
        lr_scheduler_type="linear",
        weight_decay=0.0,
        max_grad_norm=1.0,
        max_length=args.max_length,
        packing=False,
        bf16=cuda,
        use_cpu=not cuda,
        gradient_checkpointing=False,
        logging_steps=10,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        include_num_input_tokens_seen="non_padding",
        seed=args.seed,
        dataloader_num_workers=0,
    )
    trainer = Sequential(
        model=model, args=config, train_dataset=dataset, processing_class=tokenizer, callbacks=[Timer()]
    )
    sync()
    started = time.perf_counter()
    output = trainer.train()
    sync()
    wall = time.perf_counter() - started
    tokens = trainer.state.num_input_tokens_seen
    steady = _steady(marks, args.warmup_measure)
    result = {
        "train_runtime_s": round(output.metrics["train_runtime"], 2),
        "wall_s": round(wall, 2),
        "tokens": int(tokens),
        "tokens_per_second": round(tokens / output.metrics["train_runtime"], 1),
        "steady_tokens_per_second": steady,
        "train_loss": round(output.training_loss, 4),
        "padded_tokens_per_step": args.batch * args.max_length,
    }
    return result


def _steady(marks, skip: int) -> float | None:
    marks = [m for m in marks if m[0] >= skip]
    if len(marks) < 2:
        return None
    (_, t0, n0), (_, t1, n1) = marks[0], marks[-1]
    return round((n1 - n0) / (t1 - t0), 1) if t1 > t0 else None


def run_packed(args, model, batches, lr: float, compile_: bool) -> dict:
    """Train on ``batches`` (one optimiser step each), timing every step after the first few."""
    warmup = max(1, round(len(batches) * args.warmup / args.steps))  # the baseline's warm-up share
    config = P.PackedSFTConfig(
        learning_rate=lr,
        warmup_steps=warmup,
        total_steps=len(batches),
        weight_decay=0.0,
        max_grad_norm=1.0,
        compile=compile_,
    )
    trainer = P.PackedSFT(model, config)
    losses = []
    marks = []
    sync()
    started = time.perf_counter()
    first_step_s = None
    skip = min(args.warmup_measure, len(batches) - 1)
    for i, batch in enumerate(batches, start=1):
        losses.append(trainer.step(batch))
        if i == 1:
            sync()
            first_step_s = round(time.perf_counter() - started, 2)
        if i in (skip, len(batches)):
            sync()
            marks.append((i, time.perf_counter(), sum(b.n_tokens for b in batches[:i])))
    sync()
    wall = time.perf_counter() - started
    tokens = sum(b.n_tokens for b in batches)
    curve = [round(float(x), 4) for x in torch.stack(losses).cpu()]
    return {
        "wall_s": round(wall, 2),
        "first_step_s": first_step_s,
        "tokens": tokens,
        "tokens_per_second": round(tokens / wall, 1),
        "steady_tokens_per_second": _steady(marks, skip),
        "train_loss": round(sum(curve) / len(curve), 4),
        "loss_first_last": [curve[0], curve[-1]],
        "compiled": compile_,
        "steps": len(batches),
        "samples_per_step": batches[0].n_examples,
        "learning_rate": lr,
        "warmup_steps": warmup,
    }


def profile_packed(model, batches, out: Path, steps: int = 3) -> float:
    """A profiler table of ``steps`` packed steps, run apart from the timed runs (it slows them)."""
    trainer = P.PackedSFT(model, P.PackedSFTConfig(total_steps=len(batches)))
    for batch in batches[:2]:  # warm up outside the trace
        trainer.step(batch)
    sync()
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    started = time.perf_counter()
    with torch.profiler.profile(activities=activities) as prof:
        for batch in batches[2 : 2 + steps]:
            trainer.step(batch)
        sync()
    out.write_text(profile_table(prof), encoding="utf-8")
    return round(time.perf_counter() - started, 3)


def parse_sweep(text: str) -> list[tuple[int, float, int, bool]]:
    """``"128:1e-3:15,256:2e-3:24:compile"`` -> [(examples per step, learning rate, steps, compiled)]."""
    configs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        fields = item.split(":")
        try:
            if len(fields) not in (3, 4) or (len(fields) == 4 and fields[3] != "compile"):
                raise ValueError
            n, lr, steps = int(fields[0]), float(fields[1]), int(fields[2])
        except ValueError:
            raise SystemExit(f"--sweep: {item!r} is not EXAMPLES_PER_STEP:LEARNING_RATE:STEPS[:compile]") from None
        if n < 1 or steps < 1 or lr <= 0:
            raise SystemExit(f"--sweep: {item!r} needs positive numbers")
        configs.append((n, lr, steps, len(fields) == 4))
    return configs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, required=True, help="config.json + tokenizer files")
    parser.add_argument("--weights", action="store_true", help="load the weights in --model-dir")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--warmup", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--warmup-measure", type=int, default=5, help="steps left out of steady-state timing")
    parser.add_argument(
        "--sweep",
        default=DEFAULT_SWEEP,
        help="packed runs with larger token budgets: EXAMPLES_PER_STEP:LR:STEPS,... ('' to skip)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the decoder layers of packed runs")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--profile", action="store_true", help="afterwards, a profiler table of 3 packed steps")
    parser.add_argument("--tiny", action="store_true", help="tiny model, for a CPU check of the script")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    config = LlamaConfig.from_pretrained(args.model_dir)
    if args.tiny:
        config.num_hidden_layers, config.hidden_size, config.intermediate_size = 2, 64, 128
        config.num_attention_heads, config.num_key_value_heads = 4, 2
    config.attn_implementation = "sdpa"
    if args.weights:
        model = LlamaForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32, attn_implementation="sdpa")
    else:
        model = LlamaForCausalLM(copy.deepcopy(config))
    init_state = copy.deepcopy(model.state_dict())
    n_params = sum(p.numel() for p in model.parameters())

    train_rows, test_rows = load_rows(args.data)
    t0 = time.perf_counter()
    train_tok = [P.tokenize_example(tokenizer, r["prompt"], r["completion"], args.max_length) for r in train_rows]
    test_tok = [P.tokenize_example(tokenizer, r["prompt"], r["completion"], args.max_length) for r in test_rows]
    tokenize_s = time.perf_counter() - t0
    groups = P.step_groups(len(train_rows), args.batch, args.steps, args.seed)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    batches = [
        P.pack([train_tok[i] for i in g], pad_id, pad_to_multiple=256, max_seqlen=args.max_length).pin_memory()
        for g in groups
    ]
    eval_batches = [P.pack(test_tok[i : i + 32], pad_id, 256) for i in range(0, len(test_tok), 32)]
    lengths = [len(t[0]) for t in train_tok]
    mean_len = sum(n * n for n in lengths) / sum(lengths)  # token-weighted example length
    fpt = flops_per_token(config, mean_len / 2)
    peak = peak_flops()
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)

    def fresh():
        m = LlamaForCausalLM(copy.deepcopy(config)) if not args.weights else copy.deepcopy(model)
        m.load_state_dict(init_state)
        return m.to(device)

    def mfu(tps):
        return round(tps * fpt / peak, 4) if (peak and tps) else None

    report: dict = {
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "weights": "pretrained" if args.weights else "random init (same for every run)",
        "parameters": n_params,
        "train_examples": len(train_rows),
        "test_examples": len(test_rows),
        "steps": args.steps,
        "samples_per_step": args.batch,
        "max_length": args.max_length,
        "learning_rate": args.lr,
        "mean_example_tokens": round(sum(lengths) / len(lengths), 1),
        "max_example_tokens": max(lengths),
        "tokenize_s": round(tokenize_s, 2),
        "flops_per_token": fpt,
        "peak_flops": peak,
        "attention": "varlen flash (torch.nn.attention.varlen)"
        if P.varlen_available(device)
        else "per-example SDPA loop (no varlen kernel)",
    }
    m0 = fresh()
    P.use_varlen_attention(m0)
    report["eval_loss_init"] = round(P.eval_loss(m0, eval_batches), 4)
    del m0

    if not args.skip_baseline:
        from transformers import AutoTokenizer as _T

        model_b = fresh()
        base = run_baseline(
            args, model_b, _T.from_pretrained(args.model_dir), train_rows, groups, Path(tempfile.mkdtemp()) / "trl"
        )
        P.use_varlen_attention(model_b)
        base["eval_loss"] = round(P.eval_loss(model_b, eval_batches), 4)
        base["mfu"] = mfu(base["steady_tokens_per_second"])
        report["baseline_trl_padded"] = base
        del model_b
        torch.cuda.empty_cache() if device == "cuda" else None
        print(json.dumps({"baseline": base}), flush=True)

    def save():
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")  # after every run: keep partial results

    def finish(result: dict, model) -> dict:
        result["eval_loss"] = round(P.eval_loss(model, eval_batches), 4)
        result["mfu"] = mfu(result["steady_tokens_per_second"])
        base = report.get("baseline_trl_padded")
        if base:
            result["speedup_end_to_end"] = round(result["tokens_per_second"] / base["tokens_per_second"], 2)
            result["eval_loss_delta"] = round(result["eval_loss"] - base["eval_loss"], 4)
            result["eval_loss_no_worse"] = result["eval_loss"] <= base["eval_loss"]
        return result

    save()
    # 1. the same examples, groups, steps and learning rate as the baseline
    model_p = fresh()
    report["packed"] = finish(run_packed(args, model_p, batches, args.lr, args.compile), model_p)
    del model_p
    save()
    print(json.dumps({"packed": report["packed"]}), flush=True)

    # 2. larger token budgets per step: examples per step, learning rate and steps from --sweep
    report["sweep"] = []
    for n, lr, steps, compiled in parse_sweep(args.sweep):
        sweep_batches = [
            P.pack([train_tok[i] for i in g], pad_id, pad_to_multiple=256, max_seqlen=args.max_length).pin_memory()
            for g in P.step_groups(len(train_rows), n, steps, args.seed)
        ]
        model_s = fresh()
        try:
            result = finish(run_packed(args, model_s, sweep_batches, lr, args.compile or compiled), model_s)
        except Exception as exc:  # out of memory, a failed compile: record it and go on
            result = {"samples_per_step": n, "learning_rate": lr, "steps": steps, "compiled": args.compile or compiled}
            result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            if compiled:
                torch._dynamo.reset()
        del model_s, sweep_batches
        if device == "cuda":
            torch.cuda.empty_cache()
        report["sweep"].append(result)
        save()
        print(json.dumps({"sweep": result}), flush=True)

    if args.profile:
        report["profiled_3_steps_s"] = profile_packed(fresh(), batches, out_dir / "profile_packed.txt")

    if "baseline_trl_padded" in report:
        runs = [report["packed"], *report["sweep"]]
        good = [r for r in runs if r.get("eval_loss_no_worse")]
        best = max(good, key=lambda r: r["tokens_per_second"], default=None)
        report["best_no_worse"] = (
            {k: best[k] for k in ("samples_per_step", "learning_rate", "steps", "speedup_end_to_end", "eval_loss")}
            if best
            else None
        )
    if peak:
        report["mfu_note"] = "model FLOPs (6N + causal attention) per non-padding token / bf16 dense peak"
    save()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
