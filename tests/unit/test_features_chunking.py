"""Chunking with the embedding model's own tokenizer: sizes, overlap, coverage, structure."""

from __future__ import annotations

import itertools
import random

import pytest

from llm_engineering.application.preprocessing.chunking import ChunkingConfig, split_text
from llm_engineering.exceptions import ConfigurationError
from llm_engineering.infrastructure.embeddings import get_embedder

WORDS = (
    "retrieval passage vector index query author model token embedding chunk store pipeline "
    "warehouse document cleaning overlap window search ranking latency throughput batch"
).split()


def english(paragraphs: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    out = []
    for p in range(paragraphs):
        sentences = []
        for _ in range(rng.randint(3, 7)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
            sentences.append(" ".join(words).capitalize() + rng.choice([".", ".", "?", "!"]))
        out.append(" ".join(sentences))
        if p % 4 == 3:
            out.append(f"## Section {p // 4 + 1}")
    return "\n\n".join(out)


KOREAN = "\n\n".join(
    "검색 증강 생성은 질문과 가까운 문단을 먼저 찾고, 그 문단을 근거로 답을 만듭니다. "
    f"{i}번째 문단에서는 청크의 크기와 겹침이 검색 품질에 어떤 영향을 주는지 살펴봅니다. "
    "토큰 수를 정확히 세지 않으면 임베딩 모델이 긴 문장의 뒷부분을 조용히 잘라 버립니다."
    for i in range(1, 13)
)


@pytest.fixture(scope="module")
def embedder():
    import torch

    torch.set_num_threads(1)
    return get_embedder()


def tokens(embedder, text: str) -> int:
    return embedder.count_tokens(text)


def assert_covers(text: str, chunks) -> None:
    """Dropping each chunk's overlap with the previous one and joining gives the text back."""
    assert chunks[0].start == len(text) - len(text.lstrip())
    rebuilt = chunks[0].text
    for prev, chunk in itertools.pairwise(chunks):
        assert text[chunk.start : chunk.end] == chunk.text
        assert not text[prev.end : chunk.start].strip(), "text lost between chunks"
        assert chunk.end > prev.end, "a chunk that adds nothing"
        rebuilt += text[prev.end : chunk.start] if chunk.start > prev.end else ""
        rebuilt += text[prev.end : chunk.end]
    assert "".join(rebuilt.split()) == "".join(text.split())


@pytest.mark.parametrize("size,overlap", [(32, 0), (64, 8), (128, 24), (254, 40)])
def test_no_chunk_exceeds_the_size_and_the_text_is_covered(embedder, size, overlap):
    text = english(24, seed=size)
    chunks = split_text(text, embedder.tokenizer, ChunkingConfig(size, overlap))
    assert len(chunks) > 2
    for chunk in chunks:
        assert tokens(embedder, chunk.text) == chunk.token_count <= size
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert_covers(text, chunks)


def test_configured_size_is_honoured(embedder):
    text = english(40, seed=3)
    small = split_text(text, embedder.tokenizer, ChunkingConfig(48, 0))
    large = split_text(text, embedder.tokenizer, ChunkingConfig(200, 0))
    assert max(c.token_count for c in small) <= 48
    assert max(c.token_count for c in large) <= 200
    # Chunks are filled to at least half the size (except the last), so the size really drives the count.
    assert min(c.token_count for c in large[:-1]) >= 100
    assert len(small) > 3 * len(large)


@pytest.mark.parametrize("overlap", [10, 30])
def test_consecutive_chunks_share_the_configured_overlap(embedder, overlap):
    text = english(30, seed=7)
    chunks = split_text(text, embedder.tokenizer, ChunkingConfig(120, overlap))
    shared = [tokens(embedder, text[b.start : a.end]) for a, b in itertools.pairwise(chunks)]
    # The overlap starts at a word boundary, so it is the configured size less at most one word.
    assert all(overlap - 6 <= n <= overlap for n in shared), shared


def test_no_overlap_means_chunks_only_touch(embedder):
    text = english(12, seed=1)
    chunks = split_text(text, embedder.tokenizer, ChunkingConfig(64, 0))
    assert all(b.start >= a.end for a, b in itertools.pairwise(chunks))
    assert_covers(text, chunks)


def test_chunks_end_on_paragraphs_and_headings_when_they_can(embedder):
    text = english(24, seed=11)
    chunks = split_text(text, embedder.tokenizer, ChunkingConfig(200, 0))
    ends_cleanly = [text[c.end : c.end + 2] in ("\n\n", "") for c in chunks]
    assert sum(ends_cleanly) >= len(chunks) - 1
    assert any(c.text.startswith("## Section") for c in chunks)


def test_korean_text_is_chunked_whole_syllables_and_within_limits(embedder):
    chunks = split_text(KOREAN, embedder.tokenizer, ChunkingConfig(64, 12))
    assert len(chunks) > 3
    for chunk in chunks:
        assert tokens(embedder, chunk.text) <= 64
        assert KOREAN[chunk.start : chunk.end] == chunk.text
        # Chunks end between words; never inside a Hangul syllable (the tokenizer splits one
        # syllable into several jamo pieces).
        assert chunk.end == len(KOREAN) or KOREAN[chunk.end].isspace()
    assert_covers(KOREAN, chunks)
    # Korean words are many word pieces long for this model; the overlap still holds.
    shared = [tokens(embedder, KOREAN[b.start : a.end]) for a, b in itertools.pairwise(chunks)]
    assert all(6 <= n <= 12 for n in shared), shared


def test_a_code_block_that_fits_stays_in_one_chunk(embedder):
    code = "```python\ndef tokenize(text):\n    pieces = text.split()\n\n    return [p.lower() for p in pieces]\n```"
    text = english(3, seed=5) + "\n\n" + code + "\n\n" + english(3, seed=6)
    chunks = split_text(text, embedder.tokenizer, ChunkingConfig(120, 20))
    assert any(code in c.text for c in chunks)


def test_a_long_code_block_is_cut_at_line_ends(embedder):
    body = "\n".join(f"    total_{i} = compute(value_{i}, weight={i})" for i in range(80))
    text = f"Intro.\n\n```python\ndef run():\n{body}\n```"
    chunks = split_text(text, embedder.tokenizer, ChunkingConfig(100, 0))
    assert len(chunks) > 3
    for chunk in chunks[1:]:
        line_start = text.rfind("\n", 0, chunk.start) + 1
        assert not text[line_start : chunk.start].strip(), "a code chunk starts mid-line"
        assert chunk.token_count <= 100
    assert_covers(text, chunks)


def test_a_giant_word_is_split_but_still_within_limits(embedder):
    text = "prefix " + "x" * 3000 + " suffix"
    chunks = split_text(text, embedder.tokenizer, ChunkingConfig(50, 10))
    assert all(tokens(embedder, c.text) <= 50 for c in chunks)
    assert_covers(text, chunks)


def test_empty_text_has_no_chunks(embedder):
    assert split_text("  \n\n ", embedder.tokenizer, ChunkingConfig(64, 8)) == []


@pytest.mark.parametrize(
    "size,overlap,message",
    [(300, 10, "exceeds what the embedding model reads"), (64, 64, "less than the chunk size"), (4, 0, "too small")],
)
def test_impossible_sizes_are_refused_with_a_clear_message(embedder, size, overlap, message):
    with pytest.raises(ConfigurationError, match=message):
        ChunkingConfig(size, overlap).check(embedder.max_content_tokens)


def test_a_longer_fence_holding_a_shorter_one_is_one_code_block(embedder):
    block = "````\n# README\n\n```python\nprint('안녕')\n```\n\nSee the example above.\n````"
    text = english(3, seed=8) + "\n\n## README.md\n\n" + block + "\n\n" + english(3, seed=9)
    chunks = split_text(text, embedder.tokenizer, ChunkingConfig(100, 10))
    assert any(block in c.text for c in chunks)


# Real prose in both languages (written for these tests): hard-wrapped Korean as exported from a
# document, and English paragraphs.
KOREAN_PROSE = "\n\n".join(
    f"{i}. 데비안 패키지 관리 도구는 여러 단계로 나뉩니다. 가장 낮은 단계의 dpkg는 꾸러미 파일을 풀고 설정하며,\n"
    "그 위의 도구들은 의존성을 계산해서 필요한 꾸러미를 함께 내려받습니다. 설정 파일까지 지우려면\n"
    "제거 대신 완전 삭제를 골라야 하고, 새 커널을 직접 빌드했다면 꾸러미로 만들어 두는 편이 관리하기 쉽습니다."
    for i in range(1, 16)
)
ENGLISH_PROSE = "\n\n".join(
    f"{i}. Debian's package tools come in layers. The lowest one, dpkg, unpacks and configures package files, "
    "while the tools above it resolve dependencies and download whatever else is needed. To remove the "
    "configuration files as well, purge the package instead of removing it, and a kernel you built yourself "
    "is easier to manage once it is turned into a package."
    for i in range(1, 16)
)


def passages_of(chunks):
    spans = {}
    for chunk in chunks:
        spans.setdefault(chunk.passage_index, (chunk.passage_start, chunk.passage_end))
    return spans


@pytest.mark.parametrize("text", [KOREAN_PROSE, ENGLISH_PROSE], ids=["korean", "english"])
def test_passages_are_sized_in_characters_and_hold_their_chunks(embedder, text):
    chunks = split_text(text, embedder.tokenizer, ChunkingConfig(200, 30, 1000))
    spans = passages_of(chunks)
    assert list(spans) == list(range(len(spans))) and len(spans) > 2
    lengths = [end - start for start, end in spans.values()]
    assert all(length <= 1000 for length in lengths)
    assert all(length >= 500 for length in lengths[:-1]), lengths
    for (_, end), (start, _) in itertools.pairwise(spans.values()):
        assert not text[end:start].strip(), "text lost between passages"
    for chunk in chunks:
        assert chunk.passage_start <= chunk.start < chunk.end <= chunk.passage_end
        assert chunk.token_count <= 200
    assert_covers(text, chunks)


def test_korean_and_english_passages_carry_comparable_text(embedder):
    """200 word pieces are ~4x fewer characters of Hangul than of English; passages are not."""
    config = ChunkingConfig(200, 30, 1000)
    korean, english_ = (split_text(t, embedder.tokenizer, config) for t in (KOREAN_PROSE, ENGLISH_PROSE))
    chunk_chars = [sum(len(c.text) for c in chunks) / len(chunks) for chunks in (korean, english_)]
    assert chunk_chars[0] * 2 < chunk_chars[1]  # the embedder's chunks differ a lot...
    passage_chars = [
        sum(e - s for s, e in passages_of(chunks).values()) / len(passages_of(chunks)) for chunks in (korean, english_)
    ]
    assert 0.6 < passage_chars[0] / passage_chars[1] < 1.67, passage_chars  # ...the passages do not
    assert len(korean) / len(passages_of(korean)) > len(english_) / len(passages_of(english_))


def test_without_passages_every_chunk_is_its_own(embedder):
    chunks = split_text(ENGLISH_PROSE, embedder.tokenizer, ChunkingConfig(64, 8))
    assert [c.passage_index for c in chunks] == list(range(len(chunks)))
    assert all((c.passage_start, c.passage_end) == (c.start, c.end) for c in chunks)


def test_a_passage_size_below_a_sentence_is_refused(embedder):
    with pytest.raises(ConfigurationError, match="passage size"):
        ChunkingConfig(64, 8, 50).check(embedder.max_content_tokens)
