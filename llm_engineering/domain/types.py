"""Small shared vocabularies of the domain."""

from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")


class DataCategory(StrEnum):
    """What kind of writing a document is; names match the warehouse collections."""

    ARTICLES = "articles"
    POSTS = "posts"
    REPOSITORIES = "repositories"


def class_for_category(classes: dict[DataCategory, type[T]], category: DataCategory | str, what: str) -> type[T]:
    """``classes[category]``, or a ValueError naming the known categories (``what``: the kind of class)."""
    try:
        return classes[DataCategory(category)]
    except (KeyError, ValueError):
        known = ", ".join(sorted(c.value for c in classes))
        raise ValueError(f"no {what} class for category {category!r} (known: {known})") from None
