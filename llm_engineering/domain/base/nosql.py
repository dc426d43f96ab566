"""A small ODM: pydantic documents persisted through the warehouse port (``ports.DocumentStore``).

A concrete document class sets ``collection`` (and optionally ``unique_keys`` and
``indexed_keys``); it is then registered by class name, which is how the warehouse export and
import find every document class without a hand-kept list.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Self
from weakref import WeakKeyDictionary

from pydantic import BaseModel, ConfigDict, Field

from llm_engineering.domain.ports import DocumentStore, document_store

DOCUMENT_CLASSES: dict[str, type[NoSQLBaseDocument]] = {}


class NoSQLBaseDocument(BaseModel):
    model_config = ConfigDict(populate_by_name=True, validate_assignment=False)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)

    collection: ClassVar[str | None] = None
    unique_keys: ClassVar[tuple[str, ...]] = ()
    indexed_keys: ClassVar[tuple[str, ...]] = ()
    _ready: ClassVar[WeakKeyDictionary[DocumentStore, set[str]]] = WeakKeyDictionary()  # collections ensured

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__dict__.get("collection"):
            DOCUMENT_CLASSES[cls.__name__] = cls

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.__class__) and self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    # ---- (de)serialisation -------------------------------------------------------------------
    def to_mongo(self) -> dict[str, Any]:
        """A JSON-native dict with ``_id`` (UUIDs and datetimes as strings)."""
        data = self.model_dump(mode="json")
        data["_id"] = data.pop("id")
        return data

    @classmethod
    def from_mongo(cls, data: dict[str, Any]) -> Self:
        data = dict(data)
        if "_id" in data:
            data["id"] = data.pop("_id")
        return cls.model_validate(data)

    # ---- store access ------------------------------------------------------------------------
    @classmethod
    def _store(cls) -> DocumentStore:
        if not cls.collection:
            raise TypeError(f"{cls.__name__} has no collection; it cannot be stored")
        store = document_store()
        ready = NoSQLBaseDocument._ready.setdefault(store, set())
        if cls.collection not in ready:
            store.ensure_collection(cls.collection, cls.unique_keys, cls.indexed_keys)
            ready.add(cls.collection)
        return store

    @classmethod
    def _natural_key(cls) -> str:
        """The key upserts match on: the first unique key, else ``_id``."""
        return cls.unique_keys[0] if cls.unique_keys else "_id"

    def save(self) -> Self:
        """Insert or update this document (matched on its natural key); returns it as stored."""
        cls = self.__class__
        doc = self.to_mongo()
        cls._store().upsert_many(cls.collection, [doc], cls._natural_key())
        stored = cls._store().find_one(cls.collection, {cls._natural_key(): doc[cls._natural_key()]})
        return cls.from_mongo(stored) if stored else self

    @classmethod
    def get_or_create(cls, **filters: Any) -> Self:
        """The stored document matching ``filters``, or a new one built from them and saved."""
        found = cls.find(**filters)
        if found is not None:
            return found
        new = cls(**filters)
        cls.bulk_upsert([new])
        return cls.find(**filters) or new

    @classmethod
    def bulk_insert(cls, documents: Sequence[NoSQLBaseDocument]) -> int:
        """Insert new documents; a duplicate key writes nothing and raises DuplicateKeyError."""
        return cls._store().insert_many(cls.collection, [d.to_mongo() for d in documents])

    @classmethod
    def bulk_upsert(cls, documents: Sequence[NoSQLBaseDocument]) -> tuple[int, int]:
        """Insert or replace on the natural key, keeping stored ids; returns (inserted, updated)."""
        return cls._store().upsert_many(cls.collection, [d.to_mongo() for d in documents], cls._natural_key())

    @classmethod
    def find(cls, **filters: Any) -> Self | None:
        doc = cls._store().find_one(cls.collection, _normalise(filters))
        return cls.from_mongo(doc) if doc else None

    @classmethod
    def bulk_find(cls, limit: int | None = None, newest_first: bool = False, **filters: Any) -> list[Self]:
        """Stored documents matching ``filters`` in the order they were stored (or the reverse);
        only ``limit`` of them are read."""
        found = cls._store().find(cls.collection, _normalise(filters), limit, newest_first=newest_first)
        return [cls.from_mongo(d) for d in found]

    @classmethod
    def count(cls, **filters: Any) -> int:
        return cls._store().count(cls.collection, _normalise(filters))

    @classmethod
    def delete(cls, **filters: Any) -> int:
        return cls._store().delete(cls.collection, _normalise(filters))


def _normalise(filters: dict[str, Any]) -> dict[str, Any]:
    """Filters as the store sees them: ``id`` → ``_id``, ``a__b`` → ``a.b``, UUIDs as strings."""

    def value(v: Any) -> Any:
        if isinstance(v, dict) and "$in" in v:
            return {"$in": [value(x) for x in v["$in"]]}
        if isinstance(v, (list, tuple, set)):
            return {"$in": [value(x) for x in v]}
        return str(v) if isinstance(v, uuid.UUID) else v

    return {("_id" if k == "id" else k.replace("__", ".")): value(v) for k, v in filters.items()}
