"""Quality gates of the datasets: filters, de-duplication, split and decontamination.

Every gate is language-agnostic (Unicode letters and scripts, character shingles), so Korean
text passes the same gates as English. Each function returns what it kept and how many it
dropped, and the caller records the counts per gate.

* length: instruction and answer character counts within bounds;
* language: enough letters (not mostly code, numbers or symbols), optional allowed scripts, and
  the instruction written in the answer's script (e.g. no English instruction for a Korean text);
* exact duplicates: same folded instruction and answer;
* near duplicates: MinHash LSH (``datasketch``) over character 5-grams of instruction + answer;
  the first sample (in the stable input order) of a near-duplicate group is kept;
* split: seeded and stratified per (author, category), independent of input order;
* decontamination: a test sample whose instruction is a near duplicate of a train instruction
  moves to train, so no test instruction was seen in training.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel, Field

from llm_engineering.application.text import dominant_script, fold, letter_ratio, script_share, shingles

T = TypeVar("T")


class FilterConfig(BaseModel):
    min_instruction_chars: int = Field(10, ge=0)
    max_instruction_chars: int = Field(1000, ge=1)
    min_answer_chars: int = Field(50, ge=0)
    max_answer_chars: int = Field(4000, ge=1)
    min_letter_ratio: float = Field(0.5, ge=0, le=1, description="share of letters among non-space characters")
    allowed_scripts: list[str] = Field(
        default_factory=list, description="dominant answer scripts to keep, e.g. [LATIN, HANGUL]; empty: any"
    )
    min_instruction_script_share: float = Field(
        0.2, ge=0, le=1, description="share of the instruction's letters in the answer's script"
    )
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1, description="Jaccard of character shingles")
    decontamination_threshold: float = Field(0.8, gt=0, le=1)
    shingle_size: int = Field(5, ge=1)
    num_perm: int = Field(128, ge=16)


def _text_of(sample) -> str:
    return getattr(sample, "answer", None) or getattr(sample, "chosen", "")


def content_key(sample) -> str:
    """A sample's order key from what it says (author, category, instruction, answer), not from its
    id: ids derive from source links, and a local file's link is its path, so ordering by id
    gave a clone in another folder another split, other training rows and other figures."""
    parts = (sample.author_full_name, str(sample.category), sample.instruction, _text_of(sample))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def quality_filter(samples: Sequence[T], config: FilterConfig) -> tuple[list[T], Counter[str]]:
    """Samples that pass the length and language gates; drops counted per gate."""
    kept: list[T] = []
    dropped: Counter[str] = Counter()
    allowed = {s.upper() for s in config.allowed_scripts}
    for sample in samples:
        instruction, answer = sample.instruction, _text_of(sample)
        if not config.min_instruction_chars <= len(instruction) <= config.max_instruction_chars:
            dropped["instruction_length"] += 1
            continue
        if not config.min_answer_chars <= len(answer) <= config.max_answer_chars:
            dropped["answer_length"] += 1
            continue
        if letter_ratio(answer) < config.min_letter_ratio or letter_ratio(instruction) < config.min_letter_ratio:
            dropped["letter_ratio"] += 1
            continue
        script = dominant_script(answer)
        if allowed and script not in allowed:
            dropped["script_not_allowed"] += 1
            continue
        if script and script_share(instruction, script) < config.min_instruction_script_share:
            dropped["language_mismatch"] += 1
            continue
        kept.append(sample)
    return kept, dropped


def drop_exact_duplicates(samples: Sequence[T], key: Callable[[T], str] | None = None) -> tuple[list[T], int]:
    key = key or (lambda s: fold(s.instruction) + "\x1f" + fold(_text_of(s)))
    seen: set[str] = set()
    kept = []
    for sample in samples:
        k = hashlib.sha256(key(sample).encode("utf-8")).hexdigest()
        if k not in seen:
            seen.add(k)
            kept.append(sample)
    return kept, len(samples) - len(kept)


def minhash(text: str, num_perm: int = 128, size: int = 5):
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=1)
    grams = shingles(text, size)
    if grams:
        m.update_batch([g.encode("utf-8") for g in sorted(grams)])
    return m


def drop_near_duplicates(
    samples: Sequence[T],
    threshold: float = 0.8,
    num_perm: int = 128,
    size: int = 5,
    key: Callable[[T], str] | None = None,
) -> tuple[list[T], int]:
    """Keep the first of each group whose texts' estimated Jaccard similarity is >= ``threshold``."""
    from datasketch import MinHashLSH

    key = key or (lambda s: s.instruction + "\n" + _text_of(s))
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    signatures: dict[str, object] = {}
    kept = []
    for i, sample in enumerate(samples):
        m = minhash(key(sample), num_perm, size)
        if any(m.jaccard(signatures[c]) >= threshold for c in lsh.query(m)):
            continue
        name = str(i)
        lsh.insert(name, m)
        signatures[name] = m
        kept.append(sample)
    return kept, len(samples) - len(kept)


def stratified_split(
    samples: Sequence[T], test_size: float, seed: int, group: Callable[[T], tuple] | None = None
) -> tuple[list[T], list[T]]:
    """A seeded split with about ``test_size`` of each (author, category) group in test.

    The result depends on the samples' content and the seed only, not on their order or ids
    (:func:`content_key`). With at least two samples and ``test_size > 0``, test is never empty.
    """
    if not 0 <= test_size < 1:
        raise ValueError("test_size must be in [0, 1)")
    group = group or (lambda s: (s.author_full_name, s.category))
    groups: dict[tuple, list[T]] = defaultdict(list)
    for sample in samples:
        groups[group(sample)].append(sample)
    train: list[T] = []
    test: list[T] = []
    for name in sorted(groups):
        members = sorted(groups[name], key=content_key)
        random.Random(f"{seed}:{name}").shuffle(members)
        n_test = math.floor(len(members) * test_size + 0.5) if len(members) > 1 else 0
        test.extend(members[:n_test])
        train.extend(members[n_test:])
    if not test and test_size > 0 and len(train) >= 2:
        ordered = sorted(train, key=content_key)
        pick = random.Random(seed).choice(ordered)
        train.remove(pick)
        test.append(pick)
    return sorted(train, key=content_key), sorted(test, key=content_key)


def decontaminate(
    train: Sequence[T], test: Sequence[T], threshold: float = 0.8, num_perm: int = 128, size: int = 5
) -> tuple[list[T], list[T], int]:
    """Move every test sample whose instruction near-duplicates a train instruction to train.

    Repeated until no test instruction is close to any train one (a moved sample can make
    another test sample a neighbour of train).
    """
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    signatures: dict[str, object] = {}
    exact: set[str] = set()

    def add(name: str, sample, m) -> None:
        lsh.insert(name, m)
        signatures[name] = m
        exact.add(fold(sample.instruction))

    for i, sample in enumerate(train):
        add(f"train-{i}", sample, minhash(sample.instruction, num_perm, size))
    remaining = [(i, s, minhash(s.instruction, num_perm, size)) for i, s in enumerate(test)]
    new_train = list(train)
    moved = 0
    while True:
        stay, go = [], []
        for i, sample, m in remaining:
            close = fold(sample.instruction) in exact or any(
                m.jaccard(signatures[c]) >= threshold for c in lsh.query(m)
            )
            (go if close else stay).append((i, sample, m))
        if not go:
            break
        for i, sample, m in go:
            add(f"test-{i}", sample, m)
            new_train.append(sample)
        moved += len(go)
        remaining = stay
    return sorted(new_train, key=content_key), [s for _, s, _ in remaining], moved
