"""Evaluation over real retrieval (Qdrant local mode, MiniLM, the RAG retriever): context and RAG
prompts attached to items, faithfulness of answers to that context, recall@k / MRR, and the style
centroid taken from the author's own chunk embeddings."""

from __future__ import annotations

import pytest
from fixtures.rag.support import QA_FILE, load_fixture_corpus

from llm_engineering.application.evaluation.config import load_config
from llm_engineering.application.evaluation.generation import ItemRun, ModelRun, messages_for
from llm_engineering.application.evaluation.retrieval import attach_context
from llm_engineering.application.evaluation.runner import score_runs
from llm_engineering.application.evaluation.samples import EvalSample
from llm_engineering.exceptions import ConfigurationError

UNRELATED = "Penguins waddle across the Antarctic ice in search of fish. Their chicks huddle for warmth."


@pytest.fixture
def corpus():
    import torch

    torch.set_num_threads(1)
    return load_fixture_corpus()


def _samples() -> list[EvalSample]:
    import json

    rows = [json.loads(line) for line in QA_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        EvalSample(id=str(i), instruction=r["question"], reference=r.get("evidence") or "n/a")
        for i, r in enumerate(rows[:3])
    ]


def test_context_faithfulness_retrieval_and_author_style(corpus):
    samples = attach_context(_samples(), k=2)
    for sample in samples:
        assert len(sample.context) == 2 and all(sample.sources)
        messages = messages_for(sample)
        assert messages[-1]["role"] == "user" and sample.context[0] in messages[-1]["content"]
        assert sample.instruction in messages[-1]["content"]

    grounded = ModelRun(
        label="tuned",
        model_id="t",
        model_dir="/t",
        version="t",
        items=[ItemRun(sample_id=s.id, answer=s.context[0]) for s in samples],
    )
    made_up = ModelRun(
        label="base",
        model_id="b",
        model_dir="/b",
        version="b",
        items=[ItemRun(sample_id=s.id, answer=UNRELATED) for s in samples],
    )
    config = load_config(
        {
            "metrics": {"loss": False, "judge": False, "pairwise": False, "faithfulness": True, "retrieval": True},
            "retrieval": {"qa_path": str(QA_FILE), "ks": [1, 3]},
        }
    )
    result = score_runs(config, samples, [made_up, grounded])
    assert result.model("tuned").metrics["faithfulness"].value == 1.0
    assert result.model("base").metrics["faithfulness"].value == 0.0
    assert result.retrieval["questions"] > 0
    assert 0 < result.retrieval["recall@3"] <= 1 and result.retrieval["recall@1"] <= result.retrieval["recall@3"]
    assert 0 < result.retrieval["mrr"] <= 1
    assert result.author_style["source"] == "author chunk embeddings"
    assert (
        result.model("tuned").metrics["style_similarity"].value > result.model("base").metrics["style_similarity"].value
    )

    # Answers to the bare question are what style reads: copying the author's passages into a
    # grounded answer does not make a model that writes something else look like the author.
    copier = grounded.model_copy(
        update={"label": "copier", "items": [i.model_copy(update={"voice_answer": UNRELATED}) for i in grounded.items]}
    )
    result = score_runs(config, samples, [copier, grounded])
    copier_style = result.model("copier").metrics["style_similarity"].value
    assert copier_style < result.model("tuned").metrics["style_similarity"].value
    assert copier_style == pytest.approx(
        score_runs(config, samples, [made_up]).model("base").metrics["style_similarity"].value
    )
    assert result.model("copier").metrics["faithfulness"].value == 1.0  # grounding still reads the answer


def test_retrieval_without_a_question_file_is_noted_and_a_bad_file_is_an_error(corpus, tmp_path):
    samples = _samples()[:1]
    run = ModelRun(label="base", model_id="b", model_dir="/b", version="b", items=[ItemRun(sample_id="0", answer="x")])
    toggles = {"loss": False, "judge": False, "pairwise": False, "style": False, "semantic": False, "retrieval": True}
    result = score_runs(load_config({"metrics": toggles}), samples, [run])
    assert result.retrieval is None and any("retrieval.qa_path" in n for n in result.notes)
    bad = tmp_path / "qa.jsonl"
    bad.write_text('{"question": "no link"}\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="retrieval.qa_path"):
        score_runs(load_config({"metrics": toggles, "retrieval": {"qa_path": str(bad)}}), samples, [run])
