"""Evaluation with the real small model: answer-only loss, caching, a worse "tuned" registry version
that the gate catches, training curves from the registry, and the report read in headless Chromium."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from conftest import open_chromium

MODEL_CACHE = Path(os.environ.get("LLM_TWIN_TEST_MODEL_CACHE", Path(tempfile.gettempdir()) / "llm_twin_test_models"))
ITEMS = [
    {
        "id": "en-1",
        "instruction": "What does a feature pipeline do?",
        "answer": "A feature pipeline turns raw documents into cleaned, chunked and embedded features.",
    },
    {
        "id": "en-2",
        "instruction": "Why use a vector database for RAG?",
        "answer": "It finds the chunks closest in meaning to a question, so the model can answer from them.",
    },
    {
        "id": "ko-1",
        "instruction": "LLM 트윈이란 무엇인가요?",
        "answer": "LLM 트윈은 한 사람의 글쓰기 스타일을 배운 언어 모델입니다.",
    },
]
CURVE = [{"step": 1, "loss": 3.1}, {"step": 2, "loss": 2.4}, {"step": 3, "loss": 1.9}]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One evaluation of base vs a deliberately damaged 'tuned' registry version."""
    import torch

    from llm_engineering.application.evaluation import evaluate_twin
    from llm_engineering.infrastructure.embeddings import get_embedder
    from llm_engineering.infrastructure.llm import get_llm
    from llm_engineering.model.loading import load_causal_lm
    from llm_engineering.model.registry import get_registry
    from llm_engineering.settings import get_settings

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("eval")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATA_DIR", str(root / "data"))
        mp.setenv("MODEL_CACHE_DIR", str(MODEL_CACHE))
        mp.delenv("LLM_BASE_URL", raising=False)
        get_settings.cache_clear()
        get_llm.cache_clear()
        model, tokenizer = load_causal_lm(None)
        # The "tuned" model: the base with noise in every MLP output projection (clearly worse).
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for layer in model.model.layers:
                weight = layer.mlp.down_proj.weight
                weight.add_(torch.randn(weight.shape, generator=generator) * 0.03)
        registry = get_registry()
        staging = registry.staging()
        model.save_pretrained(staging / "model")
        tokenizer.save_pretrained(staging / "model")
        version = registry.publish(staging, metrics={"sft": {"loss_curve": CURVE, "train_loss": 2.4}}, config={})
        del model
        dataset = root / "tiny.json"
        dataset.write_text(json.dumps({"test": ITEMS}, ensure_ascii=False), encoding="utf-8")
        config = {
            "dataset": str(dataset),
            "sample_limit": 3,
            "generation": {"max_new_tokens": 20, "batch_size": 3},
            "judge": {"max_tokens": 24, "max_items": 1},
            "gate": {"rules": [{"metric": "loss", "max_regression": 0.0}]},
            "review": {"items": 3},
            "run_name": "it",
        }
        from loguru import logger

        lines: list[str] = []
        handler = logger.add(lambda m: lines.append(m.record["message"]), level="DEBUG")
        try:
            result, paths = evaluate_twin(config)
        finally:
            logger.remove(handler)
        again, _ = evaluate_twin({**config, "run_name": "again", "metrics": {"judge": False, "pairwise": False}})
        yield {"result": result, "paths": paths, "again": again, "version": version, "config": config, "log": lines}
        get_embedder.cache_clear()
        get_llm.cache_clear()
        get_settings.cache_clear()


@pytest.fixture
def base_model(monkeypatch):
    """The base SmolLM2 in memory, fp32 on one torch thread, with the settings pointing at the
    shared model cache: ``(model, tokenizer)``."""
    import torch

    from llm_engineering.model.loading import load_causal_lm
    from llm_engineering.settings import get_settings

    torch.set_num_threads(1)
    monkeypatch.setenv("MODEL_CACHE_DIR", str(MODEL_CACHE))
    get_settings.cache_clear()
    return load_causal_lm(None)


def test_answer_loss_scores_only_the_answer_tokens(base_model):
    import torch

    from llm_engineering.application.evaluation.generation import answer_loss
    from llm_engineering.model.chat import render_chat

    model, tokenizer = base_model
    messages = [{"role": "user", "content": ITEMS[2]["instruction"]}]
    answer = ITEMS[2]["answer"]
    total, count = answer_loss(model, tokenizer, messages, answer)
    assert count == len(tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"])
    # Independent check: transformers' own shifted loss with the prompt masked out.
    prompt_ids = tokenizer(render_chat(tokenizer, messages), add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]])
    labels = ids.clone()
    labels[0, : len(prompt_ids)] = -100
    with torch.no_grad():
        reference = model(input_ids=ids, labels=labels).loss.item()
    assert total / count == pytest.approx(reference, rel=1e-4)
    # Conditioning matters: the same answer after an unrelated question is less likely.
    other, _ = answer_loss(model, tokenizer, [{"role": "user", "content": "Name a fruit."}], answer)
    assert other > total


def test_reference_loss_is_scored_after_the_question_not_the_retrieved_passages(base_model, tmp_path):
    """The test answers are the author's own text, which retrieval usually puts in the prompt: the
    loss must not reward copying it from there (a base model that copies would beat a twin that writes)."""
    from llm_engineering.application.evaluation.generation import answer_loss, run_model
    from llm_engineering.application.evaluation.samples import EvalSample

    loaded = base_model
    question, reference = ITEMS[0]["instruction"], ITEMS[0]["answer"]
    plain = EvalSample(id="plain", instruction=question, reference=reference)
    rag_prompt = [{"role": "user", "content": f"Context:\n[1] {reference}\n\n{question}"}]
    leaked = EvalSample(
        id="leaked", instruction=question, reference=reference, context=[reference], prompt_messages=rag_prompt
    )
    run = run_model("base", "", [plain, leaked], cache_root=tmp_path, generate=False, loaded=loaded)
    assert run.items[0].loss_sum == pytest.approx(run.items[1].loss_sum, rel=1e-5)
    copied, _ = answer_loss(*loaded, rag_prompt, reference)
    assert copied < 0.5 * run.items[1].loss_sum  # what the copied answer would have scored


def test_both_models_are_scored_with_every_enabled_metric(evaluated):
    result = evaluated["result"]
    assert [m.label for m in result.models] == ["base", "tuned"]
    assert result.model("tuned").version == evaluated["version"].version
    for model in result.models:
        for metric in ("loss", "perplexity", "rouge_l", "bleu", "chrf", "semantic_similarity", "style_similarity"):
            estimate = model.metrics[metric]
            assert estimate.value is not None and estimate.low <= estimate.value <= estimate.high, metric
        assert model.loss_tokens > 20
        assert all(i.answer for i in result.items if i.model == model.label)
    assert result.author_style["source"].startswith("reference answers")


def test_the_damaged_model_has_higher_loss_and_the_gate_fails(evaluated):
    from llm_engineering.application.evaluation import GateResult, RegressionGateError, enforce_gate

    result = evaluated["result"]
    assert result.metric("tuned", "loss") > result.metric("base", "loss") + 0.1
    gate = GateResult(**result.gate)
    assert gate.status == "failed" and gate.rules[0].metric == "loss"
    with pytest.raises(RegressionGateError, match="loss"):
        enforce_gate(gate, result.report_dir)


def test_the_small_local_judge_fails_its_sanity_check_and_is_skipped_with_a_reason(evaluated):
    result = evaluated["result"]
    judge = result.judge
    assert judge.weak and judge.method.startswith("constrained choice")
    # SmolLM2-135M cannot tell a right answer from a plainly wrong one: no minutes spent on scores
    # that would mean nothing, and the report says why.
    assert judge.sanity["scoring_passed"] is False and judge.sanity["pairwise_passed"] is False
    assert judge.judged_items == 0 and result.pairwise is None
    assert [line.split(":")[0] for line in judge.skipped] == ["judge scores skipped", "pairwise preference skipped"]
    assert all("built-in sanity items" in line for line in judge.skipped)
    for model in result.models:
        assert "judge_accuracy" not in model.metrics
    html = Path(evaluated["paths"].html).read_text(encoding="utf-8")
    assert judge.skipped[0].split(" — ")[1] in html


def test_each_generation_loop_reports_its_progress(evaluated):
    for label in ("base", "tuned"):
        for loop in ("answers: 3/3 done", "reference loss: 3/3 done"):
            assert any(line.startswith(f"{label}: {loop}, ") for line in evaluated["log"]), (label, loop)
    assert any(line.startswith("judge sanity check: scores: 2/6 done, ") for line in evaluated["log"])


def test_second_run_reuses_cached_answers_and_losses(evaluated):
    first, again = evaluated["result"], evaluated["again"]
    for model in again.models:
        assert model.cached_items == 3 and model.generation_seconds == 0.0
        assert model.metrics["loss"].value == first.model(model.label).metrics["loss"].value
    assert [i.answer for i in again.items] == [i.answer for i in first.items]


def test_report_lives_beside_the_registry_version_with_its_json(evaluated):
    paths, version = evaluated["paths"], evaluated["version"]
    assert Path(paths.folder) == version.path / "evaluations" / "it"
    data = json.loads(Path(paths.json_path).read_text(encoding="utf-8"))
    assert data["gate"]["status"] == "failed"
    assert data["training_curves"][f"tuned {version.version}: sft.loss_curve"] == [[1, 3.1], [2, 2.4], [3, 1.9]]
    assert "LLM 트윈이란" in Path(paths.review_html).read_text(encoding="utf-8")


def test_report_renders_in_headless_chromium_with_tables_and_images(evaluated):
    from selenium.webdriver.common.by import By

    if not Path("/usr/bin/chromedriver").exists():
        pytest.fail("chromium-driver is not installed (apt-get install -y chromium chromium-driver)")
    driver = open_chromium()
    try:
        driver.get(Path(evaluated["paths"].html).as_uri())
        assert "Evaluation report: it" in driver.find_element(By.TAG_NAME, "h1").text
        headline = driver.find_element(By.ID, "headline")
        rows = headline.find_elements(By.TAG_NAME, "tr")
        metrics = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows[1:]]
        assert {"loss", "perplexity", "rouge_l", "semantic_similarity", "style_similarity"} <= set(metrics)
        assert [h.text for h in rows[0].find_elements(By.TAG_NAME, "th")][2:4] == ["base", "tuned"]
        for table in ("models", "gate", "stylometry", "worst"):
            assert len(driver.find_element(By.ID, table).find_elements(By.TAG_NAME, "tr")) >= 2, table
        assert "failed" in driver.find_element(By.CSS_SELECTOR, "h2 .fail").text
        images = driver.find_elements(By.TAG_NAME, "img")
        alts = {img.get_attribute("alt") for img in images}
        assert {"metrics per model", "score distributions", "training loss curves"} <= alts
        for img in images:  # decoded, not broken
            assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "weak judge" in body
        assert "needs 5 of 6)" in body and "built-in method" not in body  # the sanity check's own figures
    finally:
        driver.quit()


def test_style_gets_an_answer_to_the_bare_question_when_the_answer_was_grounded(base_model, tmp_path):
    """A grounded answer can copy the author's passages; the answer the style metrics read is the
    model's own, to the question alone: the same text the model writes for an ungrounded item."""
    from llm_engineering.application.evaluation.generation import run_model
    from llm_engineering.application.evaluation.samples import EvalSample

    loaded = base_model
    question, reference = ITEMS[1]["instruction"], ITEMS[1]["answer"]
    plain = EvalSample(id="plain", instruction=question, reference=reference)
    rag_prompt = [{"role": "user", "content": f"Context:\n[1] {reference}\n\nQuestion: {question}"}]
    grounded = EvalSample(
        id="grounded", instruction=question, reference=reference, context=[reference], prompt_messages=rag_prompt
    )
    options = {"cache_root": tmp_path, "loss": False, "max_new_tokens": 12, "batch_size": 1, "loaded": loaded}
    run = run_model("base", "", [plain, grounded], voice=True, **options)
    assert run.items[0].voice_answer is None  # nothing grounded, nothing to write twice
    assert run.items[1].voice_answer == run.items[0].answer
    assert run.items[1].answer != run.items[1].voice_answer
    again = run_model("base", "", [plain, grounded], voice=True, **options)
    assert again.cached_items == 2 and again.items[1].voice_answer == run.items[1].voice_answer
