"""Evaluation metrics on constructed cases: identical answers score perfectly, unrelated ones low,
Korean text is measured as text (not erased), and intervals behave."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llm_engineering.application.evaluation import reference as ref
from llm_engineering.application.evaluation import style as sty
from llm_engineering.application.evaluation.faithfulness import faithfulness
from llm_engineering.application.evaluation.stats import agreement, bootstrap_mean, bootstrap_ratio
from llm_engineering.application.text import split_sentences, words

EN_REF = (
    "Retrieval-augmented generation grounds a language model in documents fetched at query time. "
    "It reduces hallucinations and keeps answers current without retraining the model."
)
EN_UNRELATED = "My grandmother bakes apple pie every Sunday, and the kitchen smells of cinnamon for hours."
KO_REF = (
    "검색 증강 생성은 질문할 때 찾아온 문서로 언어 모델의 답을 뒷받침합니다. "
    "모델을 다시 학습하지 않아도 최신 정보를 반영할 수 있습니다."
)
KO_UNRELATED = "할머니는 일요일마다 사과 파이를 굽고, 부엌에는 몇 시간 동안 계피 냄새가 납니다."


@pytest.fixture(scope="module")
def embedder():
    import torch

    from llm_engineering.infrastructure.embeddings import load_embedder

    torch.set_num_threads(1)
    return load_embedder("")


@pytest.mark.parametrize("text", [EN_REF, KO_REF])
def test_identical_answer_scores_perfectly_on_overlap_metrics(text):
    scores = ref.overlap_scores(text, text)
    assert scores["rouge_l"] == pytest.approx(1.0)
    assert scores["bleu"] == pytest.approx(1.0)
    assert scores["chrf"] == pytest.approx(1.0)


@pytest.mark.parametrize(("reference", "unrelated"), [(EN_REF, EN_UNRELATED), (KO_REF, KO_UNRELATED)])
def test_unrelated_answer_scores_low_on_overlap_metrics(reference, unrelated):
    scores = ref.overlap_scores(unrelated, reference)
    assert scores["rouge_l"] < 0.2
    assert scores["bleu"] < 0.1
    assert scores["chrf"] < 0.25


def test_korean_text_is_not_erased_by_the_rouge_tokenizer():
    # rouge-score's default tokenizer keeps only [a-z0-9]: every Korean pair would score 0.
    paraphrase = "검색 증강 생성은 찾아온 문서로 모델의 답을 뒷받침합니다."
    partial = ref.rouge_l(paraphrase, KO_REF)
    assert 0.3 < partial < 1.0
    assert partial > ref.rouge_l(KO_UNRELATED, KO_REF)


def test_empty_answer_scores_zero_everywhere():
    assert ref.overlap_scores("", EN_REF) == {"rouge_l": 0.0, "bleu": 0.0, "chrf": 0.0}


def test_semantic_similarity_separates_paraphrase_from_unrelated(embedder):
    paraphrase = "RAG fetches documents when a question comes in and uses them to ground the model's answer."
    sims = ref.semantic_similarity(embedder, [EN_REF, paraphrase, EN_UNRELATED, ""], [EN_REF] * 4)
    assert sims[0] == pytest.approx(1.0, abs=1e-4)
    assert sims[1] > 0.5
    assert sims[2] < 0.2
    assert sims[3] == 0.0


def test_semantic_similarity_rejects_mismatched_lengths(embedder):
    with pytest.raises(ValueError, match="same length"):
        ref.semantic_similarity(embedder, ["a", "b"], ["a"])


def test_style_similarity_is_higher_for_the_authors_own_kind_of_text(embedder):
    author = [
        "In this article, we build a feature pipeline that cleans, chunks and embeds posts into a vector DB.",
        "We will use Qdrant as the vector DB and walk through the code of each step of the RAG pipeline.",
        "Let's see how the retrieval module uses query expansion and reranking to find the best chunks.",
    ]
    center = sty.centroid(embedder.encode(author))
    sims = sty.style_similarity(embedder, [author[0], EN_UNRELATED, ""], center)
    assert sims[0] > sims[1] + 0.3
    assert sims[2] == 0.0


def test_centroid_rejects_empty_input():
    with pytest.raises(ValueError, match="at least one vector"):
        sty.centroid(np.zeros((0, 4)))


def test_stylometry_is_identical_for_the_same_text_and_far_for_a_different_style():
    same = sty.stylometry([EN_REF])
    assert same.distance(sty.stylometry([EN_REF])) == 0.0
    terse = sty.stylometry(["Yes. No. Maybe! Why? Fine."])
    assert terse.mean_sentence_words == 1.0
    assert same.distance(terse) > 0.3


def test_stylometry_counts_korean_sentences_words_and_marks():
    profile = sty.stylometry(["안녕하세요. 저는 한국어로 글을 씁니다! 정말요?", "「인용」 표시도 셉니다…"])
    assert profile.words == 9  # 안녕하세요 / 저는 한국어로 글을 씁니다 / 정말요 / 인용 표시도 셉니다
    assert profile.mean_sentence_words == pytest.approx(9 / 4)
    assert set(profile.punctuation_profile) >= {".", "!", "?", "「", "」", "…"}
    assert sum(profile.punctuation_profile.values()) == pytest.approx(1.0)


def test_sentence_splitting_handles_cjk_full_stops():
    assert split_sentences("第一句。第二句！ 세 번째 문장. Fourth?") == ["第一句。第二句！", "세 번째 문장.", "Fourth?"]


def test_moving_ttr_is_length_robust():
    repetitive = ["the", "model"] * 200
    varied = [f"w{i}" for i in range(400)]
    assert sty.moving_ttr(repetitive) == pytest.approx(2 / 50)
    assert sty.moving_ttr(varied) == 1.0


def test_faithfulness_full_partial_none(embedder):
    context = [EN_REF, "Qdrant stores the embedded chunks and answers nearest-neighbour queries."]
    supported = faithfulness(embedder, EN_REF, context)
    assert supported.score == 1.0 and supported.sentences == 2
    first = EN_REF.split(". ")[0] + "."
    half = faithfulness(embedder, f"{first} {EN_UNRELATED}", context)
    share = len(words(first)) / (len(words(first)) + len(words(EN_UNRELATED)))  # supported words / all words
    assert half.score == pytest.approx(share) and 0 < half.score < 1
    assert half.unsupported == [EN_UNRELATED]
    assert faithfulness(embedder, EN_UNRELATED, context).score == 0.0
    assert faithfulness(embedder, EN_REF, []).score is None


def test_a_self_repeating_answer_is_not_faithful(embedder):
    context = [
        "The lie to avoid is a benchmark you tuned on. I measure recall@5 on a held-out set before I argue.",
        "The experiment was designed to measure recall@5 for Q4_K_M and Q8_0 on my ThinkPad.",
    ]
    tautology = faithfulness(embedder, "The lie to avoid is a lie to avoid.", context)
    assert tautology.supported == 1 and tautology.score <= 0.34  # its repeated half carries nothing
    loop = " ".join(
        f"The experiment was designed to measure recall@5, which is the most important metric for {q}."
        for q in ("Q4_K_M", "Q8_0", "F16", "Q5_K_S", "Q2_K")
    )
    looped = faithfulness(embedder, loop, context)
    assert looped.repeated == 4 and looped.score < 0.25
    plain = faithfulness(embedder, "I measure recall@5 on a held-out set before I argue.", context)
    assert plain.score == 1.0 and plain.repeated == 0


def test_faithfulness_in_korean(embedder):
    # The English-only default embedder cannot read Hangul; lexical support (with bigrams) still can.
    context = [KO_REF]
    assert faithfulness(embedder, "검색 증강 생성은 문서로 언어 모델의 답을 뒷받침합니다.", context).score == 1.0
    assert faithfulness(embedder, KO_UNRELATED, context).score == 0.0


def test_bootstrap_interval_contains_the_point_estimate():
    rng = np.random.default_rng(1)
    for _ in range(5):
        values = list(rng.normal(0.5, 0.2, size=30))
        est = bootstrap_mean(values, resamples=500, seed=3)
        assert est.low < est.value < est.high
        assert est.value == pytest.approx(float(np.mean(values)))
    ratio = bootstrap_ratio([10.0, 22.0, 5.0, 8.0], [5, 10, 5, 4], resamples=500)
    assert ratio.value == pytest.approx(45 / 24)
    assert ratio.low <= ratio.value <= ratio.high


def test_bootstrap_drops_and_counts_missing_values():
    est = bootstrap_mean([1.0, None, 3.0, math.nan])
    assert est.value == 2.0 and est.n == 2 and est.missing == 2
    assert bootstrap_mean([None, None]).value is None
    constant = bootstrap_mean([2.0, 2.0, 2.0])
    assert (constant.low, constant.value, constant.high) == (2.0, 2.0, 2.0)


def test_agreement_perfect_partial_and_undefined():
    perfect = agreement([1, 2, 3, 3], [1, 2, 3, 3])
    assert perfect.percent_agreement == 1.0 and perfect.cohen_kappa == pytest.approx(1.0)
    partial = agreement([1, 2, 3, 3, None], [1, 2, 2, 3, 1])
    assert partial.n == 4 and partial.percent_agreement == 0.75
    assert 0 < partial.cohen_kappa < 1 and 0 < partial.weighted_kappa < 1
    assert agreement([None], [2]).percent_agreement is None
    assert agreement([2, 2], [2, 2]).cohen_kappa is None  # one label only: kappa undefined, not 1
