"""The messages sent to a model during dataset generation (one function per kind of request)."""

from __future__ import annotations

from llm_engineering.domain.dataset import Extract, prompt_messages

SYNTHETIC_SYSTEM = (
    "You turn a passage written by an author into training data for a model that writes like them. "
    "You reply with JSON only."
)
SYNTHETIC_USER = """Write {n} instruction-answer pairs from the passage below.

Rules:
- An instruction is a request or question a reader could give; it must make sense without the passage.
- An answer responds to its instruction using only information in the passage. Add no outside facts.
- Answers imitate the author's voice: their tone, vocabulary, sentence length and point of view.
- Write instructions and answers in the passage's language.
- Reply with JSON only, in this shape: {{"pairs": [{{"instruction": "...", "answer": "..."}}]}}

Title: {title}

Passage:
{text}"""

BACKTRANSLATION_SYSTEM = "You write the request that a given text answers. You reply with JSON only."
BACKTRANSLATION_USER = """Below is a passage by {author}{title_part}. Write the single instruction a user \
could have given so that this exact passage is the ideal answer. Mention its subject and the points it \
covers; do not quote it. Write the instruction in the passage's language.
Reply with JSON only: {{"instruction": "..."}}

Passage:
{text}"""


def synthetic_messages(extract: Extract, n: int) -> list[dict[str, str]]:
    user = SYNTHETIC_USER.format(n=n, title=extract.title or "-", text=extract.text)
    return [{"role": "system", "content": SYNTHETIC_SYSTEM}, {"role": "user", "content": user}]


def backtranslation_messages(extract: Extract) -> list[dict[str, str]]:
    title_part = f' from "{extract.title}"' if extract.title else ""
    user = BACKTRANSLATION_USER.format(
        author=extract.author_full_name or "an author", title_part=title_part, text=extract.text
    )
    return [{"role": "system", "content": BACKTRANSLATION_SYSTEM}, {"role": "user", "content": user}]


def answer_messages(instruction: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    """A plain request, as a generic assistant would receive it (for rejected answers)."""
    return prompt_messages(instruction, system_prompt)
