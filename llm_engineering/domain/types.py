"""Small shared vocabularies of the domain."""

from enum import StrEnum


class DataCategory(StrEnum):
    """What kind of writing a document is; names match the warehouse collections."""

    ARTICLES = "articles"
    POSTS = "posts"
    REPOSITORIES = "repositories"
