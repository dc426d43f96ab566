"""Answers a user can read: how the twin turns retrieved passages into the text it shows.

Two modes (``RAG_ANSWER_MODE``):

* ``generate`` — the LLM writes the answer from the prompt; the text is then tidied: a sentence
  that says an earlier one again with small changes ends the answer (a small model's loop), so
  does a run of four or more bare source markers (``[1] [2] [3] [4] …``), a
  half-written last sentence of an answer cut by the token limit is dropped, and so is half a
  character at the end;
* ``extractive`` — no generation: the author's own sentences that best answer the question are
  quoted from the retrieved passages, each followed by the number of its source (``[1]``), the
  sources numbered once per document in retrieval order (as the chat page lists them). The answer
  keeps to ``max_tokens`` (whole quotes while they fit, then the first one cut at a word) and its
  usage counts its tokens with the model's tokenizer; a question none of the passages answers gets
  ``no_answer`` in the question's language (Korean or English).

``auto`` picks ``extractive`` for the in-process model (a small model invents more than it
grounds; measured in docs/answers.md) and ``generate`` for an OpenAI-compatible server.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Literal

from llm_engineering.application.text import is_near_repeat, lexical_units, sentence_spans, words
from llm_engineering.application.text.lines import classify
from llm_engineering.domain.queries import RetrievedChunk
from llm_engineering.infrastructure.llm.base import ChatResult

AnswerMode = Literal["generate", "extractive"]
MODES = ("generate", "extractive", "auto")
_END = re.compile(r"[.!?…。！？][\"'”’)\]]*$")
_QUESTION = re.compile(r"[?？][\"'”’)\]]*$")
# Prose lines that are no sentence of the author's: code comments, front-matter keys, summary labels.
_NOT_PROSE = re.compile(r"^\s*(#|//|\w+:\s*$|\*\*(takeaway|한 줄 요약))", re.IGNORECASE)
# Code written as a prose line (no fence, no indentation).
_CODE = re.compile(r"\w\s*=\s*[\[({\w\"']|[;{}]\s*$|\bdef |\bimport ")
# Words of a question that are no evidence that a sentence answers it (its content words are).
_QUESTION_WORDS = frozenset(
    """a an the is are was were be been do does did what which who whom whose how why when where
    about and or of to in on at for with from by as it its this that these those i me my you your
    he she they we say says said tell think can could should would will there any some""".split()
    + "무엇 무엇을 무엇인가요 어떻게 왜 언제 어디 누가 어떤 있나요 인가요 하나요 합니까".split()
)
NO_ANSWER = "I have not written about that; nothing in my notes answers it."
NO_ANSWER_KO = "그 주제에 대해서는 쓴 적이 없습니다. 제 노트에는 이 질문에 답할 내용이 없습니다."
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
# Four or more source markers in a row with nothing between them cite nothing: a small model's loop
# ("[1] [1] [2] [3] [4] … [25]") that the sentence check cannot see (it has no words and no end).
_MARKER_RUN = re.compile(r"\[\d{1,3}\](?:[\s,;]*\[\d{1,3}\]){3,}")


def no_answer(query: str) -> str:
    """What the twin says when nothing it wrote answers ``query``, in the question's language."""
    return NO_ANSWER_KO if _HANGUL.search(query) else NO_ANSWER


def resolve_mode(mode: str, remote: bool) -> AnswerMode:
    """``generate`` or ``extractive`` for a configured ``mode`` (``auto``: by backend)."""
    if mode not in MODES:
        raise ValueError(f"unknown answer mode {mode!r}; choose from {', '.join(MODES)}")
    if mode == "auto":
        return "generate" if remote else "extractive"
    return mode  # type: ignore[return-value]


# --- generated answers ----------------------------------------------------------------------------


def first_repeat(text: str) -> int | None:
    """Character offset of the first sentence that near-repeats an earlier one, else ``None``."""
    kept: list[set[str]] = []
    for start, end in sentence_spans(text):
        units = set(words(text[start:end]))
        if any(is_near_repeat(units, earlier) for earlier in kept):
            return start
        kept.append(units)
    return None


def tidy(text: str, cut_short: bool = False) -> str:
    """A generated answer made readable; never adds words, only drops a repeated or broken end.

    ``cut_short``: generation ended at the token limit (or a loop guard), so an unfinished last
    sentence is dropped when a finished one comes before it."""
    text = text.rstrip().rstrip("\ufffd").rstrip()
    markers = _MARKER_RUN.search(text)
    if markers is not None:  # the run and what follows go; the answer ends as if cut short
        text, cut_short = text[: markers.start() + markers.group().index("]") + 1], True
    repeat = first_repeat(text)
    if repeat is not None:
        text, cut_short = text[:repeat].rstrip(), True
    if cut_short and text and not _END.search(text):
        spans = sentence_spans(text)
        finished = [end for _, end in spans if _END.search(text[:end])]
        if finished:
            text = text[: finished[-1]].rstrip()
    return text


class ReadableStream(Iterator[str]):
    """Streams a generation piece by piece and ends it at the first near-repeated sentence.

    Pieces are passed on as they come (so the page shows progress); once a finished sentence
    repeats an earlier one, the generation behind the stream is closed. ``text`` is then the tidy
    answer (``final()``: what ``tidy`` makes of everything received), which the service sends last.
    """

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self.received = ""
        self.looped = False
        self._checked = 0

    def __iter__(self) -> ReadableStream:
        return self

    def __next__(self) -> str:
        if self.looped:
            raise StopIteration
        piece = next(self._pieces)
        self.received += piece
        if _MARKER_RUN.search(self.received[-200:]):
            self.looped = True
            self.close()
            return piece
        spans = sentence_spans(self.received)
        if len(spans) > self._checked + 1:  # a sentence was finished since the last check
            self._checked = len(spans) - 1
            if first_repeat(self.received[: spans[-1][0]]) is not None:
                self.looped = True
                self.close()
        return piece

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()

    def final(self) -> ChatResult:
        """The finished answer: the tidy text with the backend's counts (zeros when it has none,
        e.g. a generation closed by this stream or a quoted answer)."""
        result = getattr(self._pieces, "result", None)
        text = tidy(self.received, self.looped or (result is not None and result.finish_reason == "length"))
        if result is None:
            return ChatResult(text, 0, 0, "stop")
        return replace(result, text=text, finish_reason="stop" if self.looped else result.finish_reason)


# --- extractive answers ---------------------------------------------------------------------------


def unique_sources(sources: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One source per document (the first, best-ranked chunk's), in retrieval order."""
    seen: set[str] = set()
    out = []
    for source in sources:
        key = str(source.get("document_id") or source.get("link") or source.get("title"))
        if key not in seen:
            seen.add(key)
            out.append(source)
    return out


# A "sentence" longer than this is text whose sentences lost their spaces ("…this?A quick
# reminder…", as some page extractions glue paragraphs): a wall of text, not a quote.
MAX_QUOTE_WORDS = 60


def _prose_sentences(content: str, min_words: int = 6) -> list[str]:
    """The chunk's sentences worth quoting: sentences of ``min_words`` to ``MAX_QUOTE_WORDS``
    words from its prose paragraphs and list items (``text.lines.classify``'s kinds; an indented
    paragraph is prose unless it looks like code), not from headings, tables, code, front matter
    or questions (an FAQ's question or a post's rhetorical one answers nothing). Consecutive prose
    lines are one paragraph (a wrapped line is a space, as Markdown reads it), so a sentence that
    runs over a line break is quoted whole; a list item, without its marker, is a paragraph of
    its own with the lines that continue it."""
    out: list[str] = []
    paragraph: list[str] = []

    def end_paragraph() -> None:
        text = " ".join(paragraph)
        paragraph.clear()
        for start, end in sentence_spans(text):
            sentence = text[start:end].strip()
            if min_words <= len(words(sentence)) <= MAX_QUOTE_WORDS and not _QUESTION.search(sentence):
                out.append(sentence)

    for line in classify(content.splitlines()):
        if line.kind == "list":
            end_paragraph()
            paragraph.append(line.text.expandtabs(4)[line.content_indent :].strip())
        elif line.kind == "prose" and not _NOT_PROSE.match(line.text) and not _CODE.search(line.text):
            paragraph.append(line.text.strip())
        else:
            end_paragraph()
    end_paragraph()
    return out


# How quotes are chosen (measured in docs/answers.md, "Choosing the quotes").
MIN_COVER = 0.1  # a quote carries at least this share of the weight of the question's content words
TITLE_WEIGHT = 0.5  # a word of its document's title counts for a sentence at this weight
_ENGLISH_SUFFIX = re.compile(r"(?:ing|ed|es|s)$")


def _units(text: str) -> set[str]:
    """``lexical_units``, English words by a light stem ("measured", "measures" ~ "measure")."""
    return {_ENGLISH_SUFFIX.sub("", u).rstrip("e") if u.isascii() and len(u) > 4 else u for u in lexical_units(text)}


def _quotes(query: str, chunks: Sequence[RetrievedChunk], max_sentences: int) -> list[tuple[str, int]]:
    """(sentence, source number) pairs that answer ``query`` best, in the passages' order of rank;
    empty when no sentence carries ``MIN_COVER`` of the question's content (see ``extractive_answer``)."""
    numbers: dict[str, int] = {}
    candidates: list[tuple[int, int, str]] = []  # (chunk rank, position, sentence)
    for rank, chunk in enumerate(chunks):
        numbers.setdefault(str(chunk.document_id), len(numbers) + 1)
        for position, sentence in enumerate(_prose_sentences(chunk.content)):
            candidates.append((rank, position, sentence))
    if not candidates:
        return []
    units = [_units(s) for _, _, s in candidates]
    titles = [_units(chunks[rank].title or "") for rank, _, _ in candidates]
    frequency = Counter(u for sentence_units in units for u in sentence_units)
    names = set().union(*(_units(c.author_full_name or "") for c in chunks))  # whom it asks: no evidence
    asked = {u for w in words(query) if w not in _QUESTION_WORDS for u in _units(w) if len(u) > 1} - names
    weight = {u: math.log(1 + len(candidates) / max(frequency[u], 0.5)) for u in asked}
    asked_weight = sum(weight.values()) or 1.0
    scores, covers = [], []
    for (rank, _, _), sentence_units, title in zip(candidates, units, titles, strict=True):
        own = sum(weight[u] for u in asked & sentence_units)
        inherited = TITLE_WEIGHT * sum(weight[u] for u in (asked & title) - sentence_units)
        covers.append((own + inherited) / asked_weight)
        scores.append((own + inherited) / math.sqrt(max(len(sentence_units), 8)) + 0.05 / (rank + 1))
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    chosen: list[int] = []
    for i in order:
        if len(chosen) == max_sentences or (chosen and scores[i] < 0.6 * scores[chosen[0]]):
            break
        if covers[i] < MIN_COVER or not asked & units[i]:
            continue
        if not any(is_near_repeat(units[i], units[j]) for j in chosen):
            chosen.append(i)
    chosen.sort(key=lambda i: candidates[i][:2])
    return [(plain(candidates[i][2]), numbers[str(chunks[candidates[i][0]].document_id)]) for i in chosen]


# Markdown marks that only style the text, **bold**, *italic* and _italic_, and backslash escapes
# (\- \* \_) as HTML-to-text converters write them. ``__x__`` is left alone: it is how Python
# names its dunders.
_EMPHASIS = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|(?<![\w*_])([*_])(?=[^\s*_])(.+?)(?<=[^\s*_])\2(?![\w*_])")
_ESCAPE = re.compile(r"\\([-*_#>+!`.\[\]()])")


def plain(sentence: str) -> str:
    """``sentence`` as a person reads it on a page that shows text, not Markdown: emphasis marks
    and backslash escapes go (a mark glued to a word becomes a space), every word stays."""

    def unmark(match: re.Match) -> str:
        text = match.group(1) or match.group(3)
        before = match.string[match.start() - 1] if match.start() else " "
        after = match.string[match.end()] if match.end() < len(match.string) else " "
        return (" " if before.isalnum() else "") + text + (" " if after.isalnum() else "")

    sentence = _ESCAPE.sub(r"\1", sentence)
    previous = None
    while previous != sentence:  # nested emphasis: ***both*** or **bold _italic_**
        previous, sentence = sentence, _EMPHASIS.sub(unmark, sentence)
    return sentence


def extractive_answer(query: str, chunks: Sequence[RetrievedChunk], max_sentences: int = 3) -> str:
    """The author's sentences that best answer ``query``, each followed by its source number.

    Sentences are scored by the question's content words they contain (question words such as
    "what" or "the" and the author's name do not count; English words by a light stem, Hangul
    words also by character bigrams), weighted by rarity across the retrieved passages; a word of
    the sentence's document title counts at ``TITLE_WEIGHT``, and better ranked passages get a small
    bonus. Near-duplicates are quoted once, and quotes keep the passages' order of rank.
    ``no_answer`` (in the question's language) when no sentence carries ``MIN_COVER`` of the weight
    of the question's content words."""
    quotes = _quotes(query, chunks, max_sentences)
    return " ".join(f"{sentence} [{number}]" for sentence, number in quotes) or no_answer(query)


TokenCounter = Callable[[str], int]


def token_counter(llm: Any) -> TokenCounter:
    """Counts text in ``llm``'s tokens (its own tokenizer, no special tokens). A backend whose
    tokenizer is not in this process (an OpenAI-compatible server) gets an estimate: one token per
    word or punctuation mark."""
    tokenizer = getattr(llm, "tokenizer", None)
    if tokenizer is None:
        return lambda text: len(re.findall(r"\w+|[^\w\s]", text))
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def quoted_answer(
    query: str,
    chunks: Sequence[RetrievedChunk],
    count: TokenCounter,
    max_tokens: int | None = None,
    max_sentences: int = 3,
) -> ChatResult:
    """``extractive_answer`` as a result: within ``max_tokens`` (counted by ``count``) and with its
    token count as usage. Whole quotes are kept while they fit; when not even the first fits, it is
    cut at a word and marked ``…`` (finish reason ``length``). No prompt ran through a model: the
    prompt count is 0."""
    quotes = [f"{sentence} [{number}]" for sentence, number in _quotes(query, chunks, max_sentences)]
    if not quotes:
        quotes = [no_answer(query)]
    kept: list[str] = []
    for quote in quotes:
        text = " ".join([*kept, quote])
        if max_tokens is None or count(text) <= max_tokens:
            kept.append(quote)
            continue
        if not kept:  # the first quote alone is too long: as many of its words as fit
            kept.append(_cut_to(quote, count, max_tokens))
        text = " ".join(kept)
        return ChatResult(text, 0, count(text), "length")
    text = " ".join(kept)
    return ChatResult(text, 0, count(text), "stop")


def _cut_to(quote: str, count: TokenCounter, max_tokens: int) -> str:
    """The longest start of ``quote`` (whole words, then ``…`` and its source number, when there
    is one and it fits) of at most ``max_tokens`` tokens."""
    marker = re.search(r"\s\[\d+\]$", quote)
    body, number = (quote[: marker.start()], quote[marker.start() :]) if marker else (quote, "")
    words_ = body.split()
    for suffix in (f" …{number}", " …", ""):
        low, high = 0, len(words_)
        while low < high:  # the most words whose cut fits
            middle = (low + high + 1) // 2
            if count(" ".join(words_[:middle]) + suffix) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        if low:
            return " ".join(words_[:low]) + suffix
    return ""


class QuotedStream(ReadableStream):
    """A quoted answer served as a stream: one piece, and ``final()`` is the answer as quoted."""

    def __init__(self, result: ChatResult) -> None:
        super().__init__(iter([result.text]))
        self.result = result

    def final(self) -> ChatResult:
        return self.result


def trim_history(history: Sequence[dict[str, str]], max_chars: int) -> list[dict[str, str]]:
    """The latest turns of a conversation that fit in ``max_chars`` (whole user/assistant pairs
    from the end; older turns are left out, the conversation itself is not changed)."""
    kept: list[dict[str, str]] = []
    used = 0
    for message in reversed(list(history)):
        used += len(message.get("content", ""))
        if used > max_chars:
            break
        kept.append(message)
    kept.reverse()
    while kept and kept[0].get("role") == "assistant":  # never start with an answer to a dropped question
        kept.pop(0)
    return kept
