"""Samples of the fine-tuning datasets and the extracts they are made from.

An ``Extract`` is a piece of one cleaned document (a few paragraphs). Instruction samples pair an
instruction with an answer; preference samples pair an instruction with the author's own text
(``chosen``) and a generic model's answer (``rejected``). ``to_row`` gives the chat-message columns
that training reads: ``prompt`` (optional system + user message) and ``completion`` /
``chosen`` / ``rejected`` (one assistant message each).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class DatasetKind(StrEnum):
    INSTRUCT = "instruct"
    PREFERENCE = "preference"


class GenerationMethod(StrEnum):
    """How a sample's instruction (and, for ``synthetic``, its answer) was written."""

    SYNTHETIC = "synthetic"  # an LLM wrote instruction and answer from the extract
    BACKTRANSLATION = "backtranslation"  # the answer is the author's text; an LLM wrote the instruction
    TEMPLATE = "template"  # the answer is the author's text; a deterministic template wrote the instruction


class Extract(BaseModel):
    """A piece of a cleaned document cut on paragraph or sentence boundaries."""

    id: str
    document_id: str
    index: int
    text: str
    title: str = ""
    heading: str = ""
    category: str
    author_id: str = ""
    author_full_name: str = ""
    link: str | None = None


def prompt_messages(instruction: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": instruction})
    return messages


def assistant_message(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


class InstructSample(BaseModel):
    id: str
    instruction: str
    answer: str
    method: GenerationMethod
    category: str
    author_full_name: str = ""
    document_id: str = ""
    extract_id: str = ""

    def to_row(self, system_prompt: str | None = None) -> dict[str, Any]:
        return {
            "prompt": prompt_messages(self.instruction, system_prompt),
            "completion": assistant_message(self.answer),
            "instruction": self.instruction,
            "answer": self.answer,
            "method": self.method.value,
            "category": self.category,
            "author_full_name": self.author_full_name,
            "document_id": self.document_id,
        }


class PreferenceSample(BaseModel):
    id: str
    instruction: str
    chosen: str
    rejected: str
    method: GenerationMethod
    category: str
    author_full_name: str = ""
    document_id: str = ""
    extract_id: str = ""

    def to_row(self, system_prompt: str | None = None) -> dict[str, Any]:
        return {
            "prompt": prompt_messages(self.instruction, system_prompt),
            "chosen": assistant_message(self.chosen),
            "rejected": assistant_message(self.rejected),
            "instruction": self.instruction,
            "method": self.method.value,
            "category": self.category,
            "author_full_name": self.author_full_name,
            "document_id": self.document_id,
        }


class DatasetReport(BaseModel):
    """What a generation run produced and dropped; logged as artifact metadata."""

    kind: DatasetKind
    version: str
    path: str
    reused: bool = False
    documents: int = 0
    extracts: int = 0
    samples: dict[str, int] = Field(default_factory=dict)  # split -> count
    by_category: dict[str, int] = Field(default_factory=dict)
    by_method: dict[str, int] = Field(default_factory=dict)
    by_author: dict[str, int] = Field(default_factory=dict)
    dropped: dict[str, int] = Field(default_factory=dict)  # filter -> count
    generation: dict[str, Any] = Field(default_factory=dict)  # LLM calls, cache hits, failures
    model_id: str | None = None
    pushed_to: str | None = None
    seconds: float = 0.0
