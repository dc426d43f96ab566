"""Human review loop: the exported sheet (CSV + HTML) round-trips through a reviewer's edits, and
agreement with the judge is computed from what the reviewer wrote; bad sheets are refused whole."""

from __future__ import annotations

import csv

import pytest

from llm_engineering.application.evaluation.judge import PairwiseVerdict
from llm_engineering.application.evaluation.results import EvaluationResult, ItemScore, ModelSummary, PairwiseSummary
from llm_engineering.application.evaluation.review import (
    ReviewSheetError,
    export_review_sheet,
    import_review_sheet,
)
from llm_engineering.application.evaluation.samples import EvalSample
from llm_engineering.application.evaluation.stats import Estimate

JUDGE_BASE = [1, 2, 2, None]
JUDGE_TUNED = [3, 3, 2, 1]


def _result() -> EvaluationResult:
    samples = [
        EvalSample(
            id="k1",
            instruction="검색 증강 생성이란 무엇인가요?",
            reference="문서를 찾아 답을 뒷받침하는 방법입니다.",
            sources=["https://blog.example/rag"],
        ),
        *[
            EvalSample(
                id=f"e{i}",
                instruction=f'Question {i}, with "quotes", commas\nand a newline?',
                reference=f"Reference {i}.",
            )
            for i in range(1, 4)
        ],
    ]
    items = []
    for label, scores in (("base", JUDGE_BASE), ("tuned", JUDGE_TUNED)):
        for s, score in zip(samples, scores, strict=True):
            items.append(
                ItemScore(
                    sample_id=s.id,
                    model=label,
                    answer=f"{label} 답변 {s.id}",
                    metrics={"judge_accuracy": score, "judge_style": score, "rouge_l": 0.25},
                )
            )
    models = [ModelSummary(label=m, model_id=m, version=m, model_dir=m) for m in ("base", "tuned")]
    pairwise = PairwiseSummary(
        candidate="tuned",
        baseline="base",
        win_rate=Estimate(value=0.75),
        consistency=1.0,
        malformed=0,
        items={"k1": PairwiseVerdict(score=1.0), "e1": PairwiseVerdict(score=0.5), "e2": PairwiseVerdict(score=0.0)},
    )
    return EvaluationResult(
        run_name="r",
        created_at="now",
        dataset="d",
        config={"seed": 0},
        samples=samples,
        models=models,
        items=items,
        pairwise=pairwise,
    )


def _fill(path, verdicts: dict[str, dict[str, str]]) -> None:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        rows, columns = list(reader), reader.fieldnames
    for row in rows:
        row.update(verdicts.get(row["item_id"], {}))
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def test_export_writes_every_item_with_answers_scores_and_empty_verdict_columns(tmp_path):
    csv_path, page = export_review_sheet(_result(), tmp_path, items=10)
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["item_id"] for r in rows] == ["k1", "e1", "e2", "e3"]
    korean = rows[0]
    assert korean["question"] == "검색 증강 생성이란 무엇인가요?"
    assert korean["answer_tuned"] == "tuned 답변 k1" and korean["judge_accuracy_tuned"] == "3"
    assert korean["sources"] == "https://blog.example/rag"
    assert korean["judge_preferred"] == "tuned" and rows[1]["judge_preferred"] == "tie"
    assert rows[1]["question"].endswith("commas\nand a newline?")
    assert all(r["human_accuracy_base"] == "" and r["human_preferred"] == "" for r in rows)
    html = page.read_text(encoding="utf-8")
    assert "검색 증강 생성이란" in html and "&#34;quotes&#34;" in html and 'id="review"' in html


def test_sampling_picks_a_subset(tmp_path):
    csv_path, _ = export_review_sheet(_result(), tmp_path, items=2)
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_filled_sheet_round_trip_gives_agreement_with_the_judge(tmp_path):
    csv_path, _ = export_review_sheet(_result(), tmp_path, items=10)
    _fill(
        csv_path,
        {
            # tuned judge: 3, 3, 2, 1 -> human agrees on 3 of 4; base judge: 1, 2, 2, (none) -> agrees on 2 of 3
            "k1": {"human_accuracy_tuned": "3", "human_accuracy_base": "1", "human_preferred": "tuned"},
            "e1": {"human_accuracy_tuned": "3", "human_accuracy_base": "3", "human_preferred": "tie"},
            "e2": {"human_accuracy_tuned": "1", "human_accuracy_base": "2", "human_preferred": "tuned"},
            "e3": {"human_accuracy_tuned": "1", "human_accuracy_base": "2", "reviewer": "민지"},
        },
    )
    agreement = import_review_sheet(csv_path)
    assert agreement.rows == 4 and agreement.reviewed_rows == 4
    assert agreement.accuracy["tuned"].n == 4 and agreement.accuracy["tuned"].percent_agreement == 0.75
    assert agreement.accuracy["base"].n == 3 and agreement.accuracy["base"].percent_agreement == pytest.approx(2 / 3)
    from sklearn.metrics import cohen_kappa_score

    expected = cohen_kappa_score(["3", "3", "1", "1"], ["3", "3", "2", "1"])
    assert agreement.accuracy["tuned"].cohen_kappa == pytest.approx(expected)
    assert agreement.style["tuned"].n == 0  # nobody graded style
    assert agreement.preference.n == 3 and agreement.preference.percent_agreement == pytest.approx(2 / 3)


def test_sheet_with_bad_values_is_refused_naming_every_row(tmp_path):
    csv_path, _ = export_review_sheet(_result(), tmp_path, items=10)
    _fill(csv_path, {"k1": {"human_accuracy_tuned": "5"}, "e2": {"human_style_base": "good", "human_preferred": "gpt"}})
    with pytest.raises(ReviewSheetError) as info:
        import_review_sheet(csv_path)
    message = str(info.value)
    assert "3 bad value(s)" in message
    assert "row 2 human_accuracy_tuned: '5'" in message
    assert "row 4 human_style_base" in message and "row 4 human_preferred" in message


def test_missing_or_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(ReviewSheetError, match="does not exist"):
        import_review_sheet(tmp_path / "nope.csv")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ReviewSheetError, match="lacks columns"):
        import_review_sheet(other)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    with pytest.raises(ReviewSheetError, match="UTF-8"):
        import_review_sheet(binary)
