"""Human review loop: export a sheet of sampled items for people to grade, read it back, and
measure how well the LLM judge agrees with them.

The sheet is a CSV (UTF-8 with BOM so spreadsheet programs show Hangul correctly) plus a static
HTML page showing the same items for reading. Reviewers fill the ``human_*`` columns in the CSV:
``human_accuracy_<model>`` and ``human_style_<model>`` on the judge's 1–3 scale (rubric in the
report), ``human_preferred`` with a model label or ``tie``, and free ``reviewer``/``notes``.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from pydantic import BaseModel

from llm_engineering.application.evaluation.stats import Agreement, agreement
from llm_engineering.exceptions import LLMTwinError

AUTO_COLUMNS = ("semantic_similarity", "rouge_l", "style_similarity", "judge_accuracy", "judge_style")
SCALE = {"1", "2", "3"}


class ReviewSheetError(LLMTwinError):
    """A review sheet that cannot be read back (missing columns, values off the scale)."""


class ReviewAgreement(BaseModel):
    rows: int
    reviewed_rows: int
    accuracy: dict[str, Agreement]
    style: dict[str, Agreement]
    preference: Agreement | None = None


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.3f}"
    return str(value)


def review_rows(result, items: int, seed: int = 0) -> tuple[list[str], list[dict[str, str]]]:
    labels = [m.label for m in result.models]
    chosen = list(result.samples)
    if items < len(chosen):
        chosen = random.Random(seed).sample(chosen, items)
    scores = {(i.model, i.sample_id): i for i in result.items}
    columns = ["item_id", "question", "reference", "sources"]
    for label in labels:
        columns += [f"answer_{label}"] + [f"{c}_{label}" for c in AUTO_COLUMNS]
    columns.append("judge_preferred")
    for label in labels:
        columns += [f"human_accuracy_{label}", f"human_style_{label}"]
    columns += ["human_preferred", "reviewer", "notes"]
    pairwise = result.pairwise
    rows = []
    for sample in chosen:
        row = {
            "item_id": sample.id,
            "question": sample.instruction,
            "reference": sample.reference,
            "sources": " | ".join(sample.sources),
        }
        for label in labels:
            item = scores.get((label, sample.id))
            row[f"answer_{label}"] = (item.answer if item else "") or ""
            for c in AUTO_COLUMNS:
                row[f"{c}_{label}"] = _fmt(item.metrics.get(c)) if item else ""
        verdict = pairwise.items.get(sample.id) if pairwise else None
        row["judge_preferred"] = (
            ""
            if verdict is None or verdict.score is None
            else (pairwise.candidate if verdict.score > 0.5 else pairwise.baseline if verdict.score < 0.5 else "tie")
        )
        rows.append({c: row.get(c, "") for c in columns})
    return columns, rows


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Review sheet {{ run }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left;white-space:pre-wrap;max-width:360px}
th{background:#f2f2f2}</style></head><body>
<h1>Review sheet: {{ run }}</h1>
<p>{{ rows|length }} items. Grade in <code>{{ csv_name }}</code>: fill the <code>human_*</code> columns
(accuracy and style 1–3, preferred = a model label or <code>tie</code>), then import it back.</p>
<table id="review"><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for c in columns %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}
</table></body></html>"""


def export_review_sheet(result, folder: Path, items: int = 20, seed: int | None = None) -> tuple[Path, Path]:
    """Write ``review.csv`` and ``review.html`` into ``folder``; returns their paths."""
    from jinja2 import Environment

    seed = result.config.get("seed", 0) if seed is None else seed
    columns, rows = review_rows(result, items, seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, page = folder / "review.csv", folder / "review.html"
    with csv_path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    html = (
        Environment(autoescape=True)
        .from_string(_PAGE)
        .render(run=result.run_name, columns=columns, rows=rows, csv_name=csv_path.name)
    )
    page.write_text(html, encoding="utf-8")
    return csv_path, page


def read_review_sheet(path: Path) -> list[dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise ReviewSheetError(f"review sheet {path} does not exist")
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReviewSheetError(f"review sheet {path} is not a UTF-8 CSV: {exc}") from None
    missing = {"item_id", "human_preferred"} - set(columns)
    if missing or not any(c.startswith("human_accuracy_") for c in columns):
        raise ReviewSheetError(f"review sheet {path} lacks columns {sorted(missing) or ['human_accuracy_<model>']}")
    return rows


def _score(value: str, where: str) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number.is_integer() or str(int(number)) not in SCALE:
        raise ReviewSheetError(f"{where}: {value!r} is not a 1–3 score")
    return int(number)


def import_review_sheet(path: Path) -> ReviewAgreement:
    """Read a filled sheet and compare the reviewers' verdicts with the judge's.

    Every bad value is reported at once (row numbers as a spreadsheet shows them); nothing is
    computed from a sheet with errors.
    """
    rows = read_review_sheet(path)
    columns = list(rows[0].keys()) if rows else []
    labels = [c.removeprefix("human_accuracy_") for c in columns if c.startswith("human_accuracy_")]
    errors: list[str] = []
    human: dict[str, dict[str, list]] = {k: {label: [] for label in labels} for k in ("accuracy", "style")}
    judge: dict[str, dict[str, list]] = {k: {label: [] for label in labels} for k in ("accuracy", "style")}
    pref_h: list[str | None] = []
    pref_j: list[str | None] = []
    reviewed = 0
    for n, row in enumerate(rows, start=2):
        touched = False
        for label in labels:
            for kind in ("accuracy", "style"):
                try:
                    h = _score(row.get(f"human_{kind}_{label}", ""), f"row {n} human_{kind}_{label}")
                    j = _score(row.get(f"judge_{kind}_{label}", ""), f"row {n} judge_{kind}_{label}")
                except ReviewSheetError as exc:
                    errors.append(str(exc))
                    continue
                touched = touched or h is not None
                human[kind][label].append(h)
                judge[kind][label].append(j)
        preferred = (row.get("human_preferred") or "").strip()
        if preferred and preferred not in labels and preferred != "tie":
            errors.append(f"row {n} human_preferred: {preferred!r} is neither a model ({', '.join(labels)}) nor 'tie'")
            preferred = ""
        touched = touched or bool(preferred)
        pref_h.append(preferred or None)
        pref_j.append((row.get("judge_preferred") or "").strip() or None)
        reviewed += touched
    if errors:
        raise ReviewSheetError(f"review sheet {path} has {len(errors)} bad value(s): " + "; ".join(errors[:20]))
    return ReviewAgreement(
        rows=len(rows),
        reviewed_rows=reviewed,
        accuracy={label: agreement(human["accuracy"][label], judge["accuracy"][label]) for label in labels},
        style={label: agreement(human["style"][label], judge["style"][label]) for label in labels},
        preference=agreement(pref_h, pref_j, ordinal=False) if any(pref_h) else None,
    )
