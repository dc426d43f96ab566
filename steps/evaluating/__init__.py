from steps.evaluating.gate import regression_gate
from steps.evaluating.generate import generate_answers
from steps.evaluating.load_samples import load_evaluation_samples
from steps.evaluating.overview import twin_overview
from steps.evaluating.report import write_evaluation_report
from steps.evaluating.score import score_answers

__all__ = [
    "generate_answers",
    "load_evaluation_samples",
    "regression_gate",
    "score_answers",
    "twin_overview",
    "write_evaluation_report",
]
