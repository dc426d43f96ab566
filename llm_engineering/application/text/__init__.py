"""Text helpers shared by datasets, retrieval, answers and evaluation: scripts, words, sentences,
stems, key phrases and repetition, written for any script (Hangul, Latin, CJK alike).

One idea per module; the modules import nothing else from the project, so every stage can use them.
"""

from llm_engineering.application.text.phrases import key_phrases
from llm_engineering.application.text.repetition import (
    is_loop_free,
    is_near_repeat,
    near_repeated_sentences,
    repeated_word_mask,
)
from llm_engineering.application.text.scripts import (
    char_script,
    dominant_script,
    is_korean,
    letter_ratio,
    name_script,
    script_counts,
    script_coverage,
    script_share,
)
from llm_engineering.application.text.sentences import sentence_spans, split_sentences
from llm_engineering.application.text.stems import english_stem, strip_korean_particle
from llm_engineering.application.text.words import fold, lexical_units, normalize, punctuation_chars, shingles, words

__all__ = [
    "char_script",
    "dominant_script",
    "english_stem",
    "fold",
    "is_korean",
    "is_loop_free",
    "is_near_repeat",
    "key_phrases",
    "letter_ratio",
    "lexical_units",
    "name_script",
    "near_repeated_sentences",
    "normalize",
    "punctuation_chars",
    "repeated_word_mask",
    "script_counts",
    "script_coverage",
    "script_share",
    "sentence_spans",
    "shingles",
    "split_sentences",
    "strip_korean_particle",
    "words",
]
