"""Quality gates of the datasets: filters, de-duplication, split, decontamination, storage."""

import json

import pytest

from llm_engineering.application.dataset import store
from llm_engineering.application.dataset.generate import (
    InstructDatasetConfig,
    PreferenceDatasetConfig,
    build_dataset_dict,
    parse_config,
)
from llm_engineering.application.dataset.quality import (
    FilterConfig,
    decontaminate,
    drop_exact_duplicates,
    drop_near_duplicates,
    quality_filter,
    stratified_split,
)
from llm_engineering.domain.dataset import DatasetKind, GenerationMethod, InstructSample
from llm_engineering.exceptions import ConfigurationError

KO_ANSWER = (
    "저는 작은 언어 모델을 직접 미세 조정해 보면서 데이터의 품질이 모델 크기보다 중요하다는 것을 배웠습니다. "
    "같은 문장을 반복해서 넣으면 모델은 금방 그 문장만 외우게 됩니다."
)
EN_ANSWER = (
    "I learned the hard way that data quality matters more than model size when you fine-tune a small model. "
    "Feed it the same sentence twice and it will happily memorise it."
)


def sample(i, instruction, answer, author="Alice Kim", category="articles"):
    return InstructSample(
        id=f"{i:04d}",
        instruction=instruction,
        answer=answer,
        method=GenerationMethod.TEMPLATE,
        category=category,
        author_full_name=author,
        document_id=f"doc-{i}",
    )


def test_korean_samples_pass_every_filter():
    korean = sample(1, "작은 모델을 미세 조정할 때 무엇이 중요한지 당신의 문체로 써 주세요.", KO_ANSWER)
    kept, dropped = quality_filter([korean], FilterConfig(allowed_scripts=["HANGUL", "LATIN"]))
    assert kept == [korean] and not dropped
    # The book's rule ("starts with an uppercase letter") would have dropped it: Hangul has no case.
    assert not korean.answer[0].isupper()


def test_filters_drop_and_count_each_reason():
    samples = [
        sample(1, "Short?", EN_ANSWER),  # instruction too short
        sample(2, "Explain what matters when you fine-tune.", "Too short."),  # answer too short
        sample(3, "Explain this snippet of configuration.", "{ 1: 2, 3: [4, 5], 6: 7 } " * 5),  # no letters
        sample(4, "Explain what matters when you fine-tune.", KO_ANSWER),  # English instruction, Korean text
        sample(5, "Explain what matters when you fine-tune.", EN_ANSWER),  # fine
    ]
    kept, dropped = quality_filter(samples, FilterConfig(min_answer_chars=50))
    assert [s.id for s in kept] == ["0005"]
    assert dropped == {"instruction_length": 1, "answer_length": 1, "letter_ratio": 1, "language_mismatch": 1}
    only_latin, dropped = quality_filter(
        [samples[4], sample(6, "이 내용을 써 주세요.", KO_ANSWER)], FilterConfig(allowed_scripts=["LATIN"])
    )
    assert [s.id for s in only_latin] == ["0005"] and dropped == {"script_not_allowed": 1}


def test_exact_and_near_duplicates_are_removed_in_any_script():
    near_ko = KO_ANSWER.replace("배웠습니다", "알게 되었습니다")
    samples = [
        sample(1, "데이터 품질에 대해 써 주세요.", KO_ANSWER),
        sample(2, "데이터 품질에 대해  써 주세요.", KO_ANSWER),  # exact after whitespace folding
        sample(3, "데이터 품질에 대해 써 주세요.", near_ko),  # near duplicate
        sample(4, "Write about data quality.", EN_ANSWER),
        sample(5, "Write about data quality!", EN_ANSWER.upper()),  # exact after case folding? no: punctuation
        sample(6, "Tell me about your weekend hike.", "We walked up the ridge at dawn and watched the fog lift."),
    ]
    unique, n_exact = drop_exact_duplicates(samples)
    assert n_exact == 1 and [s.id for s in unique] == ["0001", "0003", "0004", "0005", "0006"]
    distinct, n_near = drop_near_duplicates(unique, threshold=0.8)
    assert [s.id for s in distinct] == ["0001", "0004", "0006"] and n_near == 2


def many_samples(n=60):
    return [
        sample(
            i,
            f"Question number {i} about topic {i * 7919 % 1000} in a long-winded form {i * 31}",
            f"Answer {i}: " + EN_ANSWER,
            author=["Alice Kim", "김민준"][i % 2],
            category=["articles", "posts", "repositories"][i % 3],
        )
        for i in range(n)
    ]


def test_split_is_deterministic_stratified_and_order_independent():
    samples = many_samples()
    train, test = stratified_split(samples, 0.2, seed=7)
    train2, test2 = stratified_split(list(reversed(samples)), 0.2, seed=7)
    assert [s.id for s in train] == [s.id for s in train2] and [s.id for s in test] == [s.id for s in test2]
    assert len(test) == 12 and len(train) == 48
    groups = {(s.author_full_name, s.category) for s in samples}
    assert {(s.author_full_name, s.category) for s in test} == groups  # every author/category is in test
    _, other = stratified_split(samples, 0.2, seed=8)
    assert {s.id for s in other} != {s.id for s in test}
    _, tiny_test = stratified_split(samples[:2], 0.1, seed=1)
    assert len(tiny_test) == 1


def test_split_does_not_depend_on_sample_ids():
    """Ids derive from links, and a local file's link is its path: a clone in another folder gives
    the same samples other ids, and must still get the same split in the same row order."""
    samples = many_samples()
    moved = [s.model_copy(update={"id": f"elsewhere-{i * 7 % len(samples)}"}) for i, s in enumerate(samples)]
    train, test = stratified_split(samples, 0.2, seed=7)
    train2, test2 = stratified_split(moved, 0.2, seed=7)
    assert [s.instruction for s in train] == [s.instruction for s in train2]
    assert [s.instruction for s in test] == [s.instruction for s in test2]


def test_no_test_instruction_near_duplicates_a_train_one_after_decontamination():
    train = [sample(1, "Explain how LoRA adapters reduce the memory needed for fine-tuning.", EN_ANSWER)]
    test = [
        sample(2, "Explain how LoRA adapters reduce the memory needed for fine-tuning!", EN_ANSWER),  # near
        sample(3, "Explain how LoRA adapters reduce the memory needed for fine-tuning?!", EN_ANSWER),  # near
        sample(4, "검색 증강 생성이 왜 필요한지 써 주세요.", KO_ANSWER),
    ]
    new_train, new_test, moved = decontaminate(train, test, threshold=0.8)
    assert moved == 2 and [s.id for s in new_test] == ["0004"]
    assert {s.id for s in new_train} == {"0001", "0002", "0003"}
    from llm_engineering.application.dataset.quality import minhash

    for t in new_test:
        for r in new_train:
            assert minhash(t.instruction).jaccard(minhash(r.instruction)) < 0.8


def test_dataset_dict_rows_follow_the_chat_contract(tmp_path):
    rows = [sample(1, "데이터 품질에 대해 써 주세요.", KO_ANSWER)]
    dd = build_dataset_dict(DatasetKind.INSTRUCT, rows, [], system_prompt="You are Alice.")
    assert set(dd) == {"train", "test"} and len(dd["test"]) == 0
    row = dd["train"][0]
    assert row["prompt"] == [
        {"role": "system", "content": "You are Alice."},
        {"role": "user", "content": "데이터 품질에 대해 써 주세요."},
    ]
    assert row["completion"] == [{"role": "assistant", "content": KO_ANSWER}]
    assert row["method"] == "template" and row["author_full_name"] == "Alice Kim"
    folder = store.write_dataset(dd, tmp_path / "instruct" / "abc123", {"kind": "instruct"})
    assert store.resolve_dataset_path("instruct", tmp_path) == folder
    assert store.load_dataset_dict("instruct", tmp_path)["train"][0] == row
    line = json.loads((folder / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert line["answer"] == KO_ANSWER  # JSONL keeps Hangul readable (no \\u escapes)
    assert KO_ANSWER in (folder / "train.jsonl").read_text(encoding="utf-8")


def test_missing_dataset_and_bad_config_give_clear_errors(tmp_path):
    with pytest.raises(store.DatasetNotFoundError, match="generate_preference_datasets"):
        store.load_dataset_dict("preference", tmp_path)
    with pytest.raises(store.DatasetNotFoundError, match="not a generated dataset"):
        store.resolve_dataset_path(tmp_path)
    with pytest.raises(ConfigurationError, match="mode"):
        parse_config(InstructDatasetConfig, {"mode": "paraphrase"})
    with pytest.raises(ConfigurationError, match="pairs_per_extrat"):
        parse_config(InstructDatasetConfig, {"pairs_per_extrat": 3})
    with pytest.raises(ConfigurationError, match="mode"):
        parse_config(PreferenceDatasetConfig, {"mode": "synthetic"})
    with pytest.raises(ConfigurationError, match="min_chars"):
        parse_config(InstructDatasetConfig, {"extracts": {"min_chars": 5000}})
