"""Evaluation benchmark: the held-out loss cross-check, then base vs tuned when a tuned model exists.

1. Base SmolLM2-135M-Instruct (converted from the GGUF, fp32) scores only the answer tokens of
   every test sample of an instruct JSON (user turn = instruction, assistant turn = answer + end
   token, rendered through ``render_chat``); mean loss, perplexity and token count are printed
   beside the expected values (1.995 / 7.35 / 19,423 for the book's 250 test samples).
2. If the model registry holds a tuned version: its held-out loss on the same samples, and a full
   evaluation run (answers, reference and style metrics, report) of base vs tuned on a fixed
   subset, the author's style centroid built from the articles next to the dataset.

    python -m tools.bench evaluation [--dataset PATH] [--subset N] [--limit N] [--threads N] [--tuned DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from llm_engineering.bootstrap import bootstrap
from tools.bench import HANDBOOK_DUMP

EXPECTED = {"mean_loss": 1.995, "perplexity": 7.35, "answer_tokens": 19423}


def held_out_loss(model_id: str | None, samples) -> dict:
    from llm_engineering.application.evaluation.generation import answer_loss, messages_for
    from llm_engineering.model.loading import load_causal_lm, resolve_model_dir

    started = time.perf_counter()
    model, tokenizer = load_causal_lm(model_id, device="cpu", dtype="float32")
    loaded = time.perf_counter() - started
    total, tokens = 0.0, 0
    started = time.perf_counter()
    for sample in samples:
        loss_sum, count = answer_loss(model, tokenizer, messages_for(sample), sample.reference)
        total += loss_sum
        tokens += count
    seconds = time.perf_counter() - started
    return {
        "model_dir": str(resolve_model_dir(model_id)),
        "samples": len(samples),
        "answer_tokens": tokens,
        "mean_loss": total / tokens,
        "perplexity": math.exp(total / tokens),
        "load_seconds": round(loaded, 1),
        "score_seconds": round(seconds, 1),
        "tokens_per_second": round(tokens / seconds, 1),
    }


def article_texts(folder: Path, max_chars: int = 1500) -> list[str]:
    """The authors' own writing (articles of the dump), cut into paragraph groups of ~max_chars."""
    path = folder / "ArticleDocument.json"
    if not path.is_file():
        return []
    texts: list[str] = []
    for doc in json.loads(path.read_text(encoding="utf-8")):
        content = doc.get("content", {})
        body = content.get("Content", "") if isinstance(content, dict) else str(content)
        piece = ""
        for paragraph in body.split("\n"):
            if len(piece) + len(paragraph) > max_chars and piece:
                texts.append(piece.strip())
                piece = ""
            piece += paragraph + "\n"
        if piece.strip():
            texts.append(piece.strip())
    return [t for t in texts if len(t) > 200]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench evaluation")
    parser.add_argument("--dataset", type=Path, default=HANDBOOK_DUMP / "instruct_datasets.json")
    parser.add_argument("--limit", type=int, default=None, help="loss on the first N test samples (default all)")
    parser.add_argument("--subset", type=int, default=24, help="items of the base-vs-tuned generation run")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tuned", default=None, help="tuned model folder (default: the registry's latest version)")
    args = parser.parse_args(argv)

    import torch

    from llm_engineering.application.evaluation.samples import load_samples
    from llm_engineering.model.registry import latest

    torch.set_num_threads(args.threads)
    if not args.dataset.is_file():
        raise SystemExit(f"dataset {args.dataset} not found")
    samples = load_samples(str(args.dataset), "test", args.limit)
    out: dict = {"dataset": str(args.dataset), "torch_threads": args.threads, "expected_base": EXPECTED}
    base = held_out_loss(None, samples)
    out["base_loss"] = base
    out["cross_check"] = {
        "loss_matches": round(base["mean_loss"], 3) == EXPECTED["mean_loss"] if args.limit is None else None,
        "perplexity_matches": round(base["perplexity"], 2) == EXPECTED["perplexity"] if args.limit is None else None,
        "tokens_match": base["answer_tokens"] == EXPECTED["answer_tokens"] if args.limit is None else None,
    }
    version = latest()
    if args.tuned:
        tuned_dir, tuned_name = Path(args.tuned), Path(args.tuned).resolve().parent.name
    elif version is not None:
        tuned_dir, tuned_name = version.model_dir, version.version
    else:
        out["tuned"] = "no tuned model in the registry: base vs tuned comparison not run"
        print(json.dumps(out, indent=2))
        return
    tuned = held_out_loss(str(tuned_dir), samples)
    out["tuned_loss"] = {"version": tuned_name, **tuned}
    out["loss_reduction"] = 1 - tuned["mean_loss"] / base["mean_loss"]

    from llm_engineering.application.evaluation import evaluate_twin

    config = {
        "models": [{"label": "base", "model_id": ""}, {"label": "tuned", "model_id": str(tuned_dir)}],
        "dataset": str(args.dataset),
        "sample_limit": args.subset,
        "metrics": {"judge": False, "pairwise": False},
        "generation": {"max_new_tokens": args.max_new_tokens, "batch_size": 4},
        "gate": {"rules": [{"metric": "loss"}, {"metric": "style_similarity"}]},
        "review": {"items": args.subset},
        "run_name": f"bench-{tuned_name}",
    }
    started = time.perf_counter()
    result, paths = evaluate_twin(config, author_texts=article_texts(args.dataset.parent))
    out["comparison"] = {
        "subset": args.subset,
        "seconds": round(time.perf_counter() - started, 1),
        "author_style": {k: v for k, v in result.author_style.items() if k != "stylometry"},
        "headline": {m.label: {k: v.as_text() for k, v in m.metrics.items()} for m in result.models},
        "gate": result.gate,
        "report": paths.html if paths else None,
    }
    print(json.dumps(out, indent=2, ensure_ascii=False, default=str))


if __name__ == "__main__":
    import sys

    bootstrap()
    main(sys.argv[1:])
