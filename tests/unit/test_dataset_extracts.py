"""Extracts, offline instructions and per-item JSON parsing of dataset generation."""

import pytest

from llm_engineering.application.dataset.extracts import ExtractConfig, document_extracts, split_text
from llm_engineering.application.dataset.parsing import InstructionAnswer, InstructionOnly, parse_items
from llm_engineering.application.dataset.templates import template_instruction
from llm_engineering.application.text import key_phrases
from llm_engineering.domain.dataset import Extract

KOREAN_SENTENCES = [
    "작은 언어 모델도 좋은 데이터로 미세 조정하면 쓸 만한 결과를 냅니다.",
    "저는 주말마다 모델을 학습시키며 학습률과 배치 크기를 바꿔 봅니다!",
    "왜 검색 증강 생성이 필요할까요?",
    "답은 간단합니다. 모델이 모르는 사실을 문서에서 찾아 주기 때문입니다.",
]


def korean_text(n: int) -> str:
    return " ".join(KOREAN_SENTENCES[i % len(KOREAN_SENTENCES)] for i in range(n))


def test_extracts_respect_bounds_and_cut_korean_between_sentences():
    text = korean_text(120)  # one paragraph, far longer than max_chars
    pieces = [t for _, t in split_text(text, 300, 600)]
    assert len(pieces) > 3
    assert all(len(p) <= 600 for p in pieces)
    assert all(len(p) >= 300 for p in pieces[:-1])
    for piece in pieces:
        assert piece.endswith(("다.", "다!", "까요?")), piece[-10:]  # never mid-sentence
    assert " ".join(pieces).split() == text.split()  # nothing lost, nothing invented


def test_long_paragraph_cut_into_sentences_keeps_closing_quotes_and_brackets():
    sentence = 'She wrote "small models need clean data." (It held up in every run.) Then she moved on. '
    text = sentence * 30  # one paragraph over max_chars: cut between sentences
    pieces = [t for _, t in split_text(text, 200, 400)]
    assert len(pieces) > 3
    assert " ".join(pieces).split() == text.split()  # every quote and bracket is still there
    assert all(p.endswith(('data."', "run.)", "on.")) for p in pieces)


def test_paragraphs_are_packed_and_headings_recorded():
    paragraphs = [f"Paragraph {i} talks about vector databases and retrieval. " * 4 for i in range(6)]
    text = "# Guide\n\n" + "\n\n".join(paragraphs[:3]) + "\n\n## Retrieval\n\n" + "\n\n".join(paragraphs[3:])
    chunks = split_text(text, 400, 800)
    assert [h for h, _ in chunks] == ["Guide", "Retrieval"]
    assert all(400 <= len(t) <= 800 for _, t in chunks)
    assert "#" not in "".join(t for _, t in chunks)
    assert chunks[0][1].count("\n\n") == 2  # paragraph breaks kept inside an extract


def test_short_document_gives_one_extract_and_unspaced_text_is_cut():
    assert [t for _, t in split_text("짧은 글입니다.", 1000, 2000)] == ["짧은 글입니다."]
    unspaced = "가" * 2500
    assert [len(t) for _, t in split_text(unspaced, 1000, 2000)] == [2000, 500]


def test_extract_config_rejects_min_above_max():
    with pytest.raises(ValueError, match="min_chars"):
        ExtractConfig(min_chars=3000, max_chars=2000)


def test_document_extracts_carry_metadata_and_stable_ids():
    doc = {
        "document_id": "doc-1",
        "content": korean_text(60),
        "title": "미세 조정 이야기",
        "category": "posts",
        "author_full_name": "김민준",
        "author_id": "a-1",
    }
    first = document_extracts(doc, ExtractConfig(min_chars=200, max_chars=400))
    again = document_extracts(doc, ExtractConfig(min_chars=200, max_chars=400))
    assert [e.id for e in first] == [e.id for e in again]
    assert len({e.id for e in first}) == len(first) > 1
    assert {e.category for e in first} == {"posts"} and {e.author_full_name for e in first} == {"김민준"}


def _extract(text, title="", heading="", id="e1"):
    return Extract(id=id, document_id="d", index=0, text=text, title=title, heading=heading, category="articles")


def test_template_instruction_is_deterministic_and_follows_the_text_language():
    english = _extract(
        "LoRA adapters make fine-tuning cheap. LoRA trains small adapters while the base model stays frozen. "
        "The rank controls the adapters' capacity.",
        title="Fine-tuning on a budget",
        heading="**Why LoRA?**",
    )
    instruction = template_instruction(english)
    assert instruction == template_instruction(english)
    # the same text from a file in another folder (another link, so another extract id)
    moved = [english.model_copy(update={"id": f"elsewhere-{n}"}) for n in range(8)]
    assert {template_instruction(e) for e in moved} == {instruction}
    assert "Fine-tuning on a budget" in instruction and '"Why LoRA?"' in instruction
    assert "adapters" in instruction and "**" not in instruction
    korean = _extract(korean_text(8), title="모델 학습 일기")
    ko_instruction = template_instruction(korean)
    assert "모델 학습 일기" in ko_instruction and "주세요" in ko_instruction
    assert "학습" in ko_instruction or "모델" in ko_instruction or "데이터" in ko_instruction


def test_key_phrases_strip_korean_particles_and_skip_stopwords():
    assert key_phrases("모델을 학습합니다. 모델이 크면 모델의 학습이 느립니다.", k=1) == ["모델"]
    assert key_phrases("The model and the model and the data", k=2) == ["model", "data"]


@pytest.mark.parametrize(
    ("reply", "kept", "failures"),
    [
        ('{"pairs": [{"instruction": "Why?", "answer": "Because."}]}', 1, {}),
        ('Sure! Here you go:\n```json\n[{"instruction": "A?", "answer": "B."}]\n```\nEnjoy.', 1, {}),
        ('Here: [{"instruction": "A?", "answer": "B."}, {"instruction": "C?"}] done', 1, {"invalid_item": 1}),
        ('[{"instruction": "A?", "answer": ""}, {"instruction": "D?", "answer": "E."}]', 1, {"empty_field": 1}),
        ('[{"instruction": "A?", "answer": 3}, "text", {"instruction": "D?", "answer": "E."}]', 1, {"invalid_item": 2}),
        ('{"pairs": [{"instruction": "A?", "answer": "B."', 0, {"no_json": 1}),
        ("I cannot help with that.", 0, {"no_json": 1}),
        ("   ", 0, {"empty_response": 1}),
    ],
)
def test_parse_items_keeps_good_items_and_counts_bad_ones(reply, kept, failures):
    result = parse_items(reply, InstructionAnswer)
    assert len(result.items) == kept
    assert dict(result.failures) == failures


def test_parse_items_limit_and_single_object():
    many = "[" + ",".join(f'{{"instruction": "Q{i}?", "answer": "A."}}' for i in range(5)) + "]"
    result = parse_items(many, InstructionAnswer, limit=3)
    assert [i.instruction for i in result.items] == ["Q0?", "Q1?", "Q2?"]
    assert result.failures["extra_items"] == 2
    only = parse_items('The instruction is {"instruction": "  글을 써 주세요. "}', InstructionOnly)
    assert only.items[0].instruction == "글을 써 주세요."


def test_code_comments_are_not_headings():
    code = "```python\nloss = 1\n\n# Print loss\nprint(loss)\n```"
    text = f"## Training\n\nWe train the model.\n\n{code}\n\nThen we test it."
    chunks = split_text(text, 10, 60)
    assert {h for h, _ in chunks} == {"Training"}
    assert "# Print loss" in "".join(t for _, t in chunks)
