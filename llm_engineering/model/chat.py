"""The one prompt format: chat messages rendered through the tokenizer's own chat template.

Training (TRL applies the same template to the conversational prompt/completion datasets),
evaluation and inference all go through the tokenizer's template, and any code that needs the
text of a model input calls :func:`render_chat`. There is no second template in the project.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from llm_engineering.exceptions import ConfigurationError

ROLES = ("system", "user", "assistant")
Message = dict[str, str]


def message(role: str, content: str) -> Message:
    if role not in ROLES:
        raise ValueError(f"unknown chat role {role!r}; expected one of {ROLES}")
    return {"role": role, "content": content}


def build_messages(
    user: str,
    *,
    system: str | None = None,
    history: Iterable[Mapping[str, str]] = (),
    context: str | None = None,
) -> list[Message]:
    """Messages for one turn: optional system prompt, earlier turns, then the user's text.

    ``context`` (e.g. retrieved passages) is placed before the question in the same user message.
    """
    messages: list[Message] = []
    if system:
        messages.append(message("system", system))
    messages.extend(message(m["role"], m["content"]) for m in history)
    text = f"{context.strip()}\n\n{user}" if context and context.strip() else user
    messages.append(message("user", text))
    return messages


def validate_messages(messages: Sequence[Mapping[str, str]]) -> list[Message]:
    if not messages:
        raise ValueError("no chat messages to render")
    out = []
    for m in messages:
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise ValueError(f"a chat message needs 'role' and 'content': {m!r}")
        out.append(message(m["role"], m["content"]))
    return out


def render_chat(tokenizer, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
    """Render ``messages`` into the exact text the model sees, through the tokenizer's template.

    With ``add_generation_prompt`` the text ends where the assistant's answer starts.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigurationError("the tokenizer has no chat template; use an instruct/chat model")
    return tokenizer.apply_chat_template(
        validate_messages(messages), tokenize=False, add_generation_prompt=add_generation_prompt
    )


def render_example(tokenizer, prompt: Sequence[Mapping[str, str]], completion: Sequence[Mapping[str, str]]) -> str:
    """Full text of a training example (prompt followed by its completion), as trained on."""
    return render_chat(tokenizer, [*prompt, *completion], add_generation_prompt=False)
