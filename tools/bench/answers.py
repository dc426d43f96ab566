"""Answer readability benchmark (not a test); prints JSON.

Crawls the sample author (data/sample) into a temporary DATA_DIR, runs the feature pipeline, then
answers every question of a question file through ``TwinRAG`` in each answer variant and counts:
loop-free answers (no near-repeated sentence, no 3-word sequence three times), answers that end
mid-sentence, faithfulness to the retrieved passages (``evaluation.faithfulness``), length and
time. Variants:

* ``unguarded``: generate with the local model, no loop guard, no tidying;
* ``before``: the behaviour before near-repeat handling: the loop guard for exact copies only, no
  tidying;
* ``generate``: generate with the loop guard (exact and near repeats) and the tidying;
* ``answer-norepeat``: as ``generate``, plus no 4-word-piece sequence of the answer said twice
  (the context stays copyable: only the answer's own tokens are blocked);
* ``extractive``: the author's sentences quoted with their sources.

Usage: python -m tools.bench answers [--variants unguarded,generate,extractive] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

from tools.bench import ROOT

DEFAULT_QUESTIONS = Path(__file__).with_name("data") / "sample_answer_questions.jsonl"
VARIANTS = ("unguarded", "before", "generate", "answer-norepeat", "extractive")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench answers", description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--variants", default="unguarded,generate,extractive", help=f"comma-separated of {VARIANTS}")
    parser.add_argument("--start", type=int, default=0, help="skip the first N questions")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--answers-out", type=Path, default=None, help="write every answer here (JSON lines)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if unknown := set(variants) - set(VARIANTS):
        raise SystemExit(f"unknown variants {sorted(unknown)}; choose from {VARIANTS}")
    questions = [json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines()]
    questions = questions[args.start :][: args.limit] if args.limit else questions[args.start :]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-answers-"))
    os.environ["DATA_DIR"] = str(workdir / "data")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from loguru import logger

    logger.remove()
    logger.add(lambda m: None, level="WARNING")
    torch.set_num_threads(args.threads)
    report: dict = {"questions": len(questions), "max_tokens": args.max_tokens, "load_average_start": os.getloadavg()}
    report["corpus"] = prepare_sample_corpus()
    out = args.answers_out.open("w", encoding="utf-8") if args.answers_out else None
    for variant in variants:
        report[variant] = run_variant(variant, questions, args.max_tokens, out)
        print(json.dumps({variant: report[variant]}, ensure_ascii=False), flush=True)
    report["load_average_end"] = os.getloadavg()
    print(json.dumps(report, ensure_ascii=False, indent=1))


def prepare_sample_corpus() -> dict:
    from llm_engineering.application.etl import crawl_links
    from llm_engineering.application.preprocessing.features import run_feature_engineering
    from llm_engineering.domain.documents import UserDocument, declared_categories
    from llm_engineering.domain.embedded_chunks import embedded_class

    started = time.perf_counter()
    user = UserDocument.get_or_create_by_name("Jiwon Ashby")
    sample = ROOT / "data" / "sample"
    crawl_links(user, [str(sample / "articles"), str(sample / "posts")], allow_local_files=True, progress=False)
    run_feature_engineering()
    return {
        "chunks": sum(embedded_class(c).count() for c in declared_categories()),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _llm(variant: str):
    from llm_engineering.infrastructure.llm import local
    from llm_engineering.infrastructure.llm.local import LocalLLM

    if variant == "before":  # exact copies only, as the guard was
        from functools import partial

        from llm_engineering.infrastructure.llm.base import repeated_tail

        local.repeated_tail = partial(repeated_tail, near=False)
    if variant != "answer-norepeat":
        return LocalLLM(stop_repeats=variant != "unguarded")

    class AnswerNoRepeat(LocalLLM):
        def _generation_kwargs(self, tokenizer, max_tokens, temperature, top_p, stop) -> dict:
            from transformers import LogitsProcessor, LogitsProcessorList

            kwargs = super()._generation_kwargs(tokenizer, max_tokens, temperature, top_p, stop)
            prompt_width: list[int] = []

            class NoRepeatInAnswer(LogitsProcessor):
                """Bans a token that would say a 4-token sequence of the answer a second time."""

                def __call__(self, input_ids, scores):
                    if not prompt_width:
                        prompt_width.append(input_ids.shape[1])
                    for row in range(input_ids.shape[0]):
                        answer = input_ids[row, prompt_width[0] :].tolist()
                        if len(answer) < 4:
                            continue
                        prefix = tuple(answer[-3:])
                        banned = {answer[i + 3] for i in range(len(answer) - 3) if tuple(answer[i : i + 3]) == prefix}
                        for token in banned:
                            scores[row, token] = float("-inf")
                    return scores

            kwargs["logits_processor"] = LogitsProcessorList([NoRepeatInAnswer()])
            return kwargs

    return AnswerNoRepeat()


def _ends_mid_sentence(text: str) -> bool:
    """Whether the last sentence is unfinished (source numbers after it do not count)."""
    from llm_engineering.application.rag.answer import tidy

    text = re.sub(r"(\s*\[\d+\])+$", "", text.strip())
    return bool(text) and tidy(text, cut_short=True) != text


def run_variant(variant: str, questions: list[str], max_tokens: int, out) -> dict:
    from llm_engineering.application.evaluation.faithfulness import faithfulness
    from llm_engineering.application.rag.pipeline import TwinRAG
    from llm_engineering.application.text import is_loop_free
    from llm_engineering.infrastructure.embeddings import get_embedder

    mode = "extractive" if variant == "extractive" else "generate"
    rag = TwinRAG(llm=None if mode == "extractive" else _llm(variant), answer_mode=mode)
    rows = []
    started = time.perf_counter()
    for question in questions:
        t = time.perf_counter()
        prepared = rag.prepare(question)
        if variant in ("unguarded", "before"):
            result = rag.llm.chat(prepared.messages, max_tokens=max_tokens)
        else:
            result = rag.respond(prepared, max_tokens=max_tokens)
        text = result.text
        context = [c.content for c in prepared.retrieval.chunks]
        faith = faithfulness(get_embedder(), text, context)
        row = {
            "variant": variant,
            "question": question,
            "answer": text,
            "finish_reason": result.finish_reason,
            "loop_free": is_loop_free(text),
            "ends_mid_sentence": _ends_mid_sentence(text),
            "faithfulness": faith.score,
            "seconds": round(time.perf_counter() - t, 2),
        }
        rows.append(row)
        if out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
    scored = [r["faithfulness"] for r in rows if r["faithfulness"] is not None]
    return {
        "loop_free": sum(r["loop_free"] for r in rows),
        "answers": len(rows),
        "ends_mid_sentence": sum(r["ends_mid_sentence"] for r in rows),
        "hit_token_limit": sum(r["finish_reason"] == "length" for r in rows),
        "mean_faithfulness": round(sum(scored) / len(scored), 3) if scored else None,
        "mean_words": round(sum(len(r["answer"].split()) for r in rows) / max(1, len(rows)), 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
