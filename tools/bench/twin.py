"""Benchmark: does the trained twin write more like its author? Held-out author text, base vs tuned.

    python -m tools.bench twin [--corpus DIR] [--budget-s 300] [--holdout 0.2] [--threads 2]

1. Imports a warehouse dump (``<Class>.json``, by default the handbook's beside the repository)
   into a temporary DATA_DIR and cleans it with the feature pipeline's handlers.
2. Holds out a seeded ``--holdout`` share of the articles (copies of one article on two platforms,
   same title, stay on the same side).
3. Builds the instruct dataset of the other articles with the project's dataset generation
   (back-translation, template instructions: offline) and trains on it with the project's training
   code and ``configs/training.yaml``, its time budget set to ``--budget-s`` (SFT only unless
   ``--dpo``), counted in this process's CPU seconds by default (``--clock wall``: wall-clock), so
   the figure says what the budget buys on a core of its own even on a shared machine.
4. Scores the held-out paragraphs: the loss of the author's paragraph (answer tokens + end token)
   given the instruction the dataset generation writes for it, for the base and the tuned model.
   Style: per-item paired comparison (share of paragraphs the tuned model finds likelier, sign
   test, paired bootstrap interval of the relative change), per author, and the same loss on
   text the authors did not write (the book's gpt-4o-mini answers) -- a twin that learned the
   author's voice gains more on the author's paragraphs than on generic text.
5. Answers the first ``--style`` held-out instructions with each model (no retrieved context) and
   compares the answers' style similarity to the author's held-out paragraphs (cosine to their
   embedding centre, as the evaluation report computes it), paired over items.

Prints JSON. Report the load average (printed) with any timing: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from llm_engineering.domain.ports import close_stores
from tools.bench import HANDBOOK_DUMP, ROOT


def _title_key(doc) -> str:
    title = str(getattr(doc, "title", "") or getattr(doc, "link", "") or doc.id).lower()
    # one platform writes "Title - by Author" or "Author - Title", another only "Title"
    title = title.replace(str(getattr(doc, "author_full_name", "")).lower(), " ")
    title = re.sub(r"\s-\s*(by\s*)?$|^\s*-\s", " ", title.strip())
    return re.sub(r"\W+", " ", title).strip()


def split_articles(documents: list, holdout: float, seed: int) -> tuple[list, list]:
    """(train, held out) by article; documents with the same title (platform copies) stay together."""
    groups: dict[str, list] = {}
    for doc in documents:
        groups.setdefault(_title_key(doc), []).append(doc)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n_held = max(1, round(len(keys) * holdout))
    held = [d for k in keys[:n_held] for d in groups[k]]
    train = [d for k in keys[n_held:] for d in groups[k]]
    return train, held


def item_losses(model_dir: str | None, items: list[tuple[list[dict], str]]) -> list[tuple[float, int]]:
    """(summed answer-token loss, answer tokens) of every (prompt messages, answer) item."""
    from llm_engineering.application.evaluation.generation import answer_loss
    from llm_engineering.model.loading import load_causal_lm

    model, tokenizer = load_causal_lm(model_dir, device="cpu", dtype="float32")
    model.eval()
    out = [answer_loss(model, tokenizer, prompt, answer) for prompt, answer in items]
    del model
    return out


def base_losses(items: list[tuple[list[dict], str]]) -> list[tuple[float, int]]:
    """:func:`item_losses` of the base model, kept in the temporary folder by content (it never changes)."""
    import hashlib

    key = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"llm_twin_bench_twin_base_{key}.json"
    if cache.is_file():
        return [tuple(x) for x in json.loads(cache.read_text(encoding="utf-8"))]
    losses = item_losses(None, items)
    cache.write_text(json.dumps(losses), encoding="utf-8")
    return losses


def paired_comparison(base: list[tuple[float, int]], tuned: list[tuple[float, int]], seed: int = 0) -> dict:
    """Token-weighted mean loss of both, relative change with a paired bootstrap 95% interval, and a
    sign test over items (per-item mean loss lower for the tuned model)."""
    import numpy as np
    from scipy.stats import binomtest

    b = np.array([s for s, _ in base])
    t = np.array([s for s, _ in tuned])
    n = np.array([c for _, c in base], dtype=float)
    base_mean, tuned_mean = b.sum() / n.sum(), t.sum() / n.sum()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(n), size=(2000, len(n)))
    change = t[idx].sum(axis=1) / b[idx].sum(axis=1) - 1
    low, high = np.quantile(change, [0.025, 0.975])
    better = int(((t / n) < (b / n)).sum())
    worse = int(((t / n) > (b / n)).sum())
    p_value = binomtest(better, better + worse, 0.5).pvalue if better + worse else 1.0
    if high < 0:
        verdict = "tuned significantly lower (better)"
    elif low > 0:
        verdict = "tuned significantly higher (worse)"
    else:
        verdict = "no significant difference"
    return {
        "items": len(n),
        "answer_tokens": int(n.sum()),
        "base_loss": round(float(base_mean), 4),
        "tuned_loss": round(float(tuned_mean), 4),
        "relative_change": round(float(tuned_mean / base_mean - 1), 4),
        "relative_change_95ci": [round(float(low), 4), round(float(high), 4)],
        "items_tuned_better": better,
        "items_tuned_worse": worse,
        "sign_test_p": float(f"{p_value:.3g}"),
        "verdict": verdict,
    }


def voice_answers(model_dir: str | None, prompts: list[list[dict]], max_tokens: int) -> list[str]:
    """Each prompt answered by the model through the service's engine (LLM_BACKEND), greedy."""
    from llm_engineering.infrastructure.llm import local_llm
    from llm_engineering.model.loading import resolve_model_dir

    llm = local_llm(str(resolve_model_dir(model_dir)), batch_size=1)
    return [r.text.strip() for r in llm.chat_batch(prompts, max_tokens=max_tokens)]


def style_comparison(base_answers: list[str], tuned_answers: list[str], author_texts: list[str]) -> dict:
    """Tuned vs base, paired over items (bootstrap interval, sign test): each answer's cosine to the
    centre of the author's held-out paragraphs and its stylometric distance from them (the
    evaluation's style similarity and stylometry distance), with the answers themselves."""
    from scipy.stats import binomtest

    from llm_engineering.application.evaluation import style as sty
    from llm_engineering.application.evaluation.stats import paired_bootstrap
    from llm_engineering.infrastructure.embeddings import get_embedder

    embedder = get_embedder()
    center = sty.centroid(embedder.encode(author_texts))
    base = sty.style_similarity(embedder, base_answers, center)
    tuned = sty.style_similarity(embedder, tuned_answers, center)
    author = sty.stylometry(author_texts)

    def per_item_distance(answers: list[str]) -> list[float | None]:
        return [sty.stylometry([a]).distance(author) if a.strip() else None for a in answers]

    out = {"items": len(base)}
    for name, b, t, higher_is_better in (
        ("style_similarity", base, tuned, True),
        ("stylometry_distance", per_item_distance(base_answers), per_item_distance(tuned_answers), False),
    ):
        pairs = [(x, y) for x, y in zip(b, t, strict=True) if x is not None and y is not None]
        paired = paired_bootstrap([x for x, _ in pairs], [y for _, y in pairs], higher_is_better, resamples=2000)
        closer = sum((y > x) == higher_is_better for x, y in pairs if x != y)
        further = sum(1 for x, y in pairs if x != y) - closer
        out[name] = {
            "base": round(sum(x for x, _ in pairs) / len(pairs), 4),
            "tuned": round(sum(y for _, y in pairs) / len(pairs), 4),
            "difference_95ci": paired.as_text(4),
            "verdict": paired.verdict,
            "items_tuned_closer": closer,
            "items_tuned_further": further,
            "sign_test_p": float(f"{binomtest(closer, closer + further, 0.5).pvalue:.3g}") if closer + further else 1.0,
        }
    out["answers"] = [{"base": b, "tuned": t} for b, t in zip(base_answers, tuned_answers, strict=True)]
    return out


def generic_items(corpus: Path, limit: int) -> list[tuple[list[dict], str]]:
    """Text the authors did not write: the book's gpt-4o-mini test answers with their instructions."""
    path = corpus / "instruct_datasets.json"
    if not path.is_file() or limit <= 0:
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    samples = [s for block in data["test"].values() for s in block["samples"]][:limit]
    return [([{"role": "user", "content": s["instruction"]}], s["answer"]) for s in samples]


def _rows(dataset_dict) -> list[dict]:
    return [row for split in dataset_dict.values() for row in split]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench twin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=HANDBOOK_DUMP, help="warehouse dump folder")
    parser.add_argument("--holdout", type=float, default=0.2, help="share of articles held out")
    parser.add_argument("--budget-s", type=float, default=300.0, help="training time budget (seconds)")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="what the budget counts: this process's CPU seconds (default: comparable on a shared machine) or wall",
    )
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "training.yaml")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training option, e.g. sft.learning_rate=1e-4 or sft.lora.enabled=false",
    )
    parser.add_argument("--dpo", action="store_true", help="also run DPO (needs rejected answers: slow on a CPU)")
    parser.add_argument("--max-heldout", type=int, default=120, help="score at most N held-out paragraphs")
    parser.add_argument("--generic", type=int, default=40, help="generic (non-author) answers scored")
    parser.add_argument(
        "--style",
        type=int,
        default=24,
        metavar="N",
        help="answer the first N held-out instructions with each model (no context) and compare their style "
        "similarity to the author's held-out paragraphs (0: skip)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=96, help="answer length for --style")
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("TORCH_NUM_THREADS", "1")),
        help="torch threads (1 when other work shares the cores)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the temporary DATA_DIR")
    args = parser.parse_args(argv)
    if not (args.corpus / "ArticleDocument.json").is_file():
        raise SystemExit(f"no warehouse dump (ArticleDocument.json) in {args.corpus}")
    if not 0 < args.holdout < 1:
        raise SystemExit("--holdout must be between 0 and 1")

    work = Path(tempfile.mkdtemp(prefix="llm_twin_bench_twin_"))
    os.environ["DATA_DIR"] = str(work)
    os.environ.setdefault("MODEL_CACHE_DIR", str(Path(tempfile.gettempdir()) / "llm_twin_test_models"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("LLM_BASE_URL", None)
    os.environ["TRAINING_TIME_BUDGET_S"] = str(args.budget_s)
    os.environ["TRAINING_FORCE"] = "true"
    os.environ["TORCH_NUM_THREADS"] = str(args.threads)  # else loading a model resizes torch's pool
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="INFO", filter=lambda r: r["name"].startswith("llm_engineering.model.finetuning"))
    import datasets
    import torch
    import yaml

    datasets.disable_progress_bars()
    torch.set_num_threads(args.threads)

    from llm_engineering.application.dataset import generate_instruct_dataset, load_cleaned_documents
    from llm_engineering.application.preprocessing.cleaning import clean_document
    from llm_engineering.application.warehouse import import_warehouse
    from llm_engineering.domain.documents import declared_categories, document_class
    from llm_engineering.model.finetuning.twin import TrainingConfig, apply_overrides, train_twin

    report: dict = {"corpus": str(args.corpus), "torch_threads": args.threads, "load_average_start": os.getloadavg()}
    started = time.perf_counter()
    import_warehouse(args.corpus)
    raw = [doc for c in declared_categories() for doc in document_class(c).bulk_find()]
    by_class: dict[type, list] = {}
    for doc in (clean_document(d) for d in raw):
        by_class.setdefault(type(doc), []).append(doc)
    for cls, docs in by_class.items():
        cls.bulk_upsert(docs)
    documents = load_cleaned_documents()
    train_docs, held_docs = split_articles(documents, args.holdout, args.seed)

    base_config = {"instruction_writer": "template", "mode": "backtranslation", "seed": args.seed}
    instruct, instruct_report = generate_instruct_dataset(train_docs, base_config)
    held, _ = generate_instruct_dataset(held_docs, {**base_config, "test_size": 0.0, "reuse_existing": False})
    held_rows = _rows(held)
    random.Random(args.seed).shuffle(held_rows)
    held_rows = held_rows[: args.max_heldout]
    report["data"] = {
        "documents": len(documents),
        "train_documents": len(train_docs),
        "heldout_documents": len(held_docs),
        "train_samples": len(instruct["train"]),
        "test_samples": len(instruct["test"]),
        "heldout_paragraphs_scored": len(held_rows),
        "seconds": round(time.perf_counter() - started, 1),
    }
    author_items = [(row["prompt"], row["completion"][0]["content"]) for row in held_rows]
    authors = [row.get("author_full_name", "") for row in held_rows]
    generic = generic_items(args.corpus, args.generic)

    started = time.perf_counter()
    base_author = base_losses(author_items)
    base_generic = base_losses(generic)
    style_prompts = [prompt for prompt, _ in author_items[: args.style]]
    base_voice = voice_answers(None, style_prompts, args.max_new_tokens) if style_prompts else []
    report["base_scoring_s"] = round(time.perf_counter() - started, 1)

    raw_config = (yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}).get("parameters", {}).get("training")
    raw_config = dict(raw_config or {})
    raw_config["run_dpo"] = bool(args.dpo)
    for stage in ("sft", "dpo"):
        raw_config.setdefault(stage, {})["time_budget_clock"] = args.clock
    for item in args.set:
        key, _, value = item.partition("=")
        node = raw_config
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML reads 1e-4 (no dot) as text
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        node[leaf] = parsed
    config = apply_overrides(TrainingConfig.from_dict(raw_config))
    preference = None
    if args.dpo:
        from llm_engineering.application.dataset import generate_preference_dataset

        preference, _ = generate_preference_dataset(train_docs, {**base_config, "max_extracts": 40})
    started = time.perf_counter()
    process_cpu = time.process_time()
    version = train_twin(instruct, preference, config)
    training_wall = time.perf_counter() - started
    training_cpu = time.process_time() - process_cpu
    sft = version.metrics.get("sft", {})
    report["training"] = {
        "budget_s": args.budget_s,
        "budget_clock": args.clock,
        "sft_planned_steps": sft.get("planned_steps"),
        "sft_seconds_per_step": sft.get("seconds_per_step"),
        "sft_stopped_on_time": sft.get("stopped_on_time"),
        "overrides": args.set,
        "stages": list(version.metrics),
        "sft_steps": sft.get("global_step"),
        "sft_train_runtime_s": sft.get("train_runtime_s"),
        "sft_train_tokens": sft.get("train_tokens"),
        "sft_epochs": sft.get("epochs"),
        "sft_tokens_per_second": sft.get("tokens_per_second"),
        "sft_trainable_parameters": sft.get("trainable_parameters"),
        "sft_eval_loss_before": sft.get("eval_loss_before"),
        "sft_eval_loss_after": sft.get("eval_loss"),
        "sft_loss_curve": [round(p["loss"], 3) for p in sft.get("loss_curve", [])],
        "wall_s_with_eval_merge_save": round(training_wall, 1),
        "process_cpu_minutes": round(training_cpu / 60, 2),
    }

    started = time.perf_counter()
    tuned_author = item_losses(str(version.model_dir), author_items)
    tuned_generic = item_losses(str(version.model_dir), generic)
    tuned_voice = voice_answers(str(version.model_dir), style_prompts, args.max_new_tokens) if style_prompts else []
    report["tuned_scoring_s"] = round(time.perf_counter() - started, 1)
    if style_prompts:
        held_texts = [row["completion"][0]["content"] for row in _rows(held)]
        report["style_of_answers"] = style_comparison(base_voice, tuned_voice, held_texts)

    report["heldout_author_text"] = paired_comparison(base_author, tuned_author)
    report["by_author"] = {
        name: paired_comparison(
            [b for b, a in zip(base_author, authors, strict=True) if a == name],
            [t for t, a in zip(tuned_author, authors, strict=True) if a == name],
        )
        for name in sorted(set(authors))
    }
    if generic:
        generic_cmp = paired_comparison(base_generic, tuned_generic)
        report["generic_text"] = generic_cmp
        report["style_specificity"] = {
            "author_minus_generic_relative_change": round(
                report["heldout_author_text"]["relative_change"] - generic_cmp["relative_change"], 4
            ),
            "meaning": "negative: the twin gained more on its author's unseen paragraphs than on text "
            "the authors did not write",
        }
    report["load_average_end"] = os.getloadavg()
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    close_stores()
    if args.keep:
        report["data_dir"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, ensure_ascii=False, indent=2))
