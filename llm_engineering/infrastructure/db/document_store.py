"""The two adapters of the warehouse port (``llm_engineering.domain.ports.DocumentStore``).

Documents are JSON-native dicts whose primary key is ``_id`` (a string). Collections declare
unique fields; both adapters enforce them in the store itself, not only in our code.

* ``SQLiteDocumentStore`` (default): one SQLite file in WAL mode, a table per collection holding
  JSON text, unique expression indexes on declared keys. Writes run in ``BEGIN IMMEDIATE``
  transactions, so a batch is all-or-nothing and several threads and processes can write at
  once without losing rows; ``transaction()`` makes several batches (several collections) one.
* ``MongoDocumentStore``: pymongo, used when ``DATABASE_HOST`` is a ``mongodb://`` URI. Each
  batch is checked before it writes, but batches are not atomic together (that needs a replica set).

An upsert on a natural key never lets a document replace a stored one with the same ``_id`` and a
different key value (that would lose the stored document): the batch is refused instead.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from llm_engineering.domain.ports import DocumentStore, Filters
from llm_engineering.exceptions import ConfigurationError, DuplicateKeyError, StoreUnavailableError
from llm_engineering.settings import get_settings

_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_COLLECTION_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_name(name: str, pattern: re.Pattern, what: str) -> str:
    if not pattern.match(name):
        raise ValueError(f"invalid {what} name: {name!r}")
    return name


def _key_value(doc: dict, key: str) -> Any:
    value: Any = doc
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _duplicates_in_batch(docs: Sequence[dict], keys: Iterable[str]) -> None:
    for key in keys:
        seen: set = set()
        for doc in docs:
            value = _key_value(doc, key)
            if value is None:
                continue
            marker = json.dumps(value, sort_keys=True)
            if marker in seen:
                raise DuplicateKeyError(f"duplicate {key}={value!r} within the batch; nothing was written")
            seen.add(marker)


# --------------------------------------------------------------------------------------------
# SQLite (embedded default)
# --------------------------------------------------------------------------------------------


class SQLiteDocumentStore(DocumentStore):
    """JSON documents in SQLite (WAL), safe across threads and processes."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 60.0):
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._unique: dict[str, tuple[str, ...]] = {}
        self._known: set[str] = set()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot create the warehouse folder {self.path.parent}: {exc}") from exc

    # One connection per thread and per process (connections must not cross a fork).
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            self._use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailableError(
                f"cannot open the embedded warehouse {self.path}: {exc} (check DATA_DIR)"
            ) from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to write-ahead logging (it stays so), waiting out other openers.

        Changing the journal mode needs the file to itself, and SQLite answers "database is
        locked" at once instead of waiting when several connections open a new file together.
        """
        from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

        def locked(exc: BaseException) -> bool:
            return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

        for attempt in Retrying(
            retry=retry_if_exception(locked),
            stop=stop_after_delay(self.busy_timeout_s),
            wait=wait_random_exponential(multiplier=0.005, max=0.5),
            reraise=True,
        ):
            with attempt:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")

    def _write(self):
        return _Transaction(self._conn())

    def transaction(self):
        return _Transaction(self._conn())

    @staticmethod
    def _expr(field: str) -> str:
        if field == "_id":
            return "id"
        _check_name(field, _FIELD_RE, "field")
        return f"json_extract(doc, '$.{field}')"

    def _table_exists(self, collection: str) -> bool:
        if collection in self._known:
            return True
        row = (
            self._conn().execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (collection,)).fetchone()
        )
        if row:
            self._known.add(collection)
        return bool(row)

    def ensure_collection(self, collection, unique=(), indexed=()):
        _check_name(collection, _COLLECTION_RE, "collection")
        with self._write() as conn:
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{collection}" '
                "(id TEXT PRIMARY KEY, doc TEXT NOT NULL CHECK (json_valid(doc)))"
            )
            for field in unique:
                conn.execute(
                    f'CREATE UNIQUE INDEX IF NOT EXISTS "ux_{collection}_{field.replace(".", "_")}" '
                    f'ON "{collection}" ({self._expr(field)})'
                )
            for field in indexed:
                conn.execute(
                    f'CREATE INDEX IF NOT EXISTS "ix_{collection}_{field.replace(".", "_")}" '
                    f'ON "{collection}" ({self._expr(field)})'
                )
        self._unique[collection] = tuple(unique)
        self._known.add(collection)

    def _ensure_table(self, collection: str) -> None:
        if not self._table_exists(collection):
            self.ensure_collection(collection)

    @staticmethod
    def _row(doc: dict) -> tuple[str, str]:
        if "_id" not in doc:
            raise ValueError("document has no _id")
        return str(doc["_id"]), json.dumps(doc, ensure_ascii=False, separators=(",", ":"))

    def insert_many(self, collection, docs):
        if not docs:
            return 0
        self._ensure_table(collection)
        _duplicates_in_batch(docs, ("_id", *self._unique.get(collection, ())))
        rows = [self._row(d) for d in docs]
        try:
            with self._write() as conn:
                conn.executemany(f'INSERT INTO "{collection}" (id, doc) VALUES (?, ?)', rows)
        except sqlite3.IntegrityError as exc:
            raise DuplicateKeyError(f"{collection}: {exc}; nothing was written") from None
        return len(rows)

    def upsert_many(self, collection, docs, key="_id"):
        if not docs:
            return 0, 0
        self._ensure_table(collection)
        _duplicates_in_batch(docs, (key,))
        inserted = updated = 0
        try:
            with self._write() as conn:
                for doc in docs:
                    if key != "_id":
                        value = _key_value(doc, key)
                        row = conn.execute(
                            f'SELECT id FROM "{collection}" WHERE {self._expr(key)} = ?', (value,)
                        ).fetchone()
                        if row:
                            doc = {**doc, "_id": row[0]}
                        else:
                            held = conn.execute(
                                f'SELECT {self._expr(key)} FROM "{collection}" WHERE id = ?', (str(doc["_id"]),)
                            ).fetchone()
                            if held and held[0] != value:
                                raise DuplicateKeyError(_id_conflict(collection, doc["_id"], key, held[0], value))
                    doc_id, text = self._row(doc)
                    exists = conn.execute(f'SELECT 1 FROM "{collection}" WHERE id = ?', (doc_id,)).fetchone()
                    conn.execute(
                        f'INSERT INTO "{collection}" (id, doc) VALUES (?, ?) '
                        "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                        (doc_id, text),
                    )
                    updated += bool(exists)
                    inserted += not exists
        except sqlite3.IntegrityError as exc:
            raise DuplicateKeyError(f"{collection}: {exc}; nothing was written") from None
        return inserted, updated

    def _where(self, filters: Filters | None) -> tuple[str, list]:
        if not filters:
            return "", []
        clauses, params = [], []
        for field, value in filters.items():
            expr = self._expr(field)
            if isinstance(value, dict) and set(value) == {"$in"}:
                values = list(value["$in"])
                if not values:
                    clauses.append("0")
                    continue
                clauses.append(f"{expr} IN ({','.join('?' * len(values))})")
                params.extend(_sql_value(v) for v in values)
            elif isinstance(value, dict):
                raise ValueError(f"unsupported filter on {field}: {value!r}")
            elif value is None:
                clauses.append(f"{expr} IS NULL")
            else:
                clauses.append(f"{expr} = ?")
                params.append(_sql_value(value))
        return " WHERE " + " AND ".join(clauses), params

    def find(self, collection, filters=None, limit=None, newest_first=False):
        if not self._table_exists(collection):
            return []
        where, params = self._where(filters)
        sql = f'SELECT doc FROM "{collection}"{where} ORDER BY rowid{" DESC" if newest_first else ""}'
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [json.loads(r[0]) for r in self._conn().execute(sql, params)]

    def count(self, collection, filters=None):
        if not self._table_exists(collection):
            return 0
        where, params = self._where(filters)
        return self._conn().execute(f'SELECT COUNT(*) FROM "{collection}"{where}', params).fetchone()[0]

    def delete(self, collection, filters=None):
        if not self._table_exists(collection):
            return 0
        where, params = self._where(filters)
        with self._write() as conn:
            return conn.execute(f'DELETE FROM "{collection}"{where}', params).rowcount

    def collections(self):
        rows = self._conn().execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        return [r[0] for r in rows]

    def close(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    return str(value)


def _id_conflict(collection: str, doc_id, key: str, stored, given) -> str:
    return (
        f"{collection}: _id {doc_id} is already stored with {key}={stored!r}, not {given!r}; "
        "writing it would replace that document, so nothing was written"
    )


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error; inside an open transaction of
    the same connection it joins that one (the outer one commits or rolls back)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        self.outer = not self.conn.in_transaction
        if self.outer:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if self.outer:
            self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


# --------------------------------------------------------------------------------------------
# MongoDB
# --------------------------------------------------------------------------------------------


def redact_uri(uri: str) -> str:
    """The URI without its password, for messages and logs."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


class MongoDocumentStore(DocumentStore):
    """The same port over pymongo. ``client`` may be injected (e.g. a mongomock client)."""

    def __init__(self, uri: str, database: str, timeout_s: float = 5.0, client: Any = None):
        self.uri_for_messages = redact_uri(uri)
        if client is None:
            import pymongo

            client = pymongo.MongoClient(
                uri,
                serverSelectionTimeoutMS=int(timeout_s * 1000),
                connectTimeoutMS=int(timeout_s * 1000),
                uuidRepresentation="standard",
            )
            self._ping(client)
        self.client = client
        self.db = client[database]
        self._unique: dict[str, tuple[str, ...]] = {}

    def _ping(self, client) -> None:
        from pymongo.errors import PyMongoError

        try:
            client.admin.command("ping")
        except PyMongoError as exc:
            raise StoreUnavailableError(
                f"DATABASE_HOST {self.uri_for_messages} is unreachable: {type(exc).__name__}. "
                "Start MongoDB (docker compose up -d mongo) or unset DATABASE_HOST to use the embedded warehouse."
            ) from None

    def ensure_collection(self, collection, unique=(), indexed=()):
        _check_name(collection, _COLLECTION_RE, "collection")
        coll = self.db[collection]
        for field in unique:
            # Sparse: documents without the field (e.g. posts with no link) do not collide.
            coll.create_index(field, unique=True, sparse=True, name=f"ux_{field}")
        for field in indexed:
            coll.create_index(field, name=f"ix_{field}")
        self._unique[collection] = tuple(unique)

    @staticmethod
    def _query(filters: Filters | None) -> dict:
        query = {}
        for field, value in (filters or {}).items():
            _check_name(field, _FIELD_RE, "field") if field != "_id" else None
            if isinstance(value, dict) and set(value) != {"$in"}:
                raise ValueError(f"unsupported filter on {field}: {value!r}")
            query[field] = value
        return query

    def insert_many(self, collection, docs):
        from pymongo.errors import BulkWriteError
        from pymongo.errors import DuplicateKeyError as MongoDuplicate

        if not docs:
            return 0
        keys = ("_id", *self._unique.get(collection, ()))
        _duplicates_in_batch(docs, keys)
        coll = self.db[collection]
        # Check against stored documents first so a duplicate writes nothing.
        for key in keys:
            values = [_key_value(d, key) for d in docs if _key_value(d, key) is not None]
            clash = coll.find_one({key: {"$in": values}}, {"_id": 1}) if values else None
            if clash:
                raise DuplicateKeyError(f"{collection}: {key} already stored ({clash['_id']}); nothing was written")
        try:
            coll.insert_many([dict(d) for d in docs], ordered=True)
        except (BulkWriteError, MongoDuplicate) as exc:
            # Lost a race with another writer: undo our part of the batch.
            coll.delete_many({"_id": {"$in": [d["_id"] for d in docs]}})
            raise DuplicateKeyError(f"{collection}: duplicate key ({exc}); nothing was written") from None
        return len(docs)

    def upsert_many(self, collection, docs, key="_id"):
        if not docs:
            return 0, 0
        from pymongo.errors import DuplicateKeyError as MongoDuplicate

        _duplicates_in_batch(docs, (key,))
        coll = self.db[collection]
        # Refuse the whole batch up front if any document would break another unique key, or
        # replace a stored document that has its _id and another key value.
        for doc in docs:
            if key != "_id" and coll.find_one({key: _key_value(doc, key)}, {"_id": 1}) is None:
                held = coll.find_one({"_id": doc["_id"]})
                if held is not None and _key_value(held, key) != _key_value(doc, key):
                    raise DuplicateKeyError(
                        _id_conflict(collection, doc["_id"], key, _key_value(held, key), _key_value(doc, key))
                    )
            for other in self._unique.get(collection, ()):
                value = _key_value(doc, other)
                if other == key or value is None:
                    continue
                clash = coll.find_one({other: value, key: {"$ne": _key_value(doc, key)}}, {"_id": 1})
                if clash:
                    raise DuplicateKeyError(
                        f"{collection}: {other}={value!r} already stored ({clash['_id']}); nothing was written"
                    )
        try:
            return self._upsert_each(coll, docs, key)
        except MongoDuplicate as exc:
            raise DuplicateKeyError(f"{collection}: duplicate key ({exc})") from None

    @staticmethod
    def _upsert_each(coll, docs, key):
        inserted = updated = 0
        for doc in docs:
            body = {k: v for k, v in doc.items() if k != "_id"}
            if key == "_id":
                result = coll.replace_one({"_id": doc["_id"]}, body, upsert=True)
            else:
                result = coll.update_one(
                    {key: _key_value(doc, key)},
                    {"$set": body, "$setOnInsert": {"_id": doc["_id"]}},
                    upsert=True,
                )
            if result.upserted_id is not None:
                inserted += 1
            else:
                updated += 1
        return inserted, updated

    def find(self, collection, filters=None, limit=None, newest_first=False):
        cursor = self.db[collection].find(self._query(filters)).sort("$natural", -1 if newest_first else 1)
        if limit is not None:
            cursor = cursor.limit(int(limit))
        return list(cursor)

    def count(self, collection, filters=None):
        return self.db[collection].count_documents(self._query(filters))

    def delete(self, collection, filters=None):
        return self.db[collection].delete_many(self._query(filters)).deleted_count

    def collections(self):
        return sorted(self.db.list_collection_names())

    def close(self):
        self.client.close()


# --------------------------------------------------------------------------------------------
# factory
# --------------------------------------------------------------------------------------------


def build_document_store(settings=None) -> DocumentStore:
    """The adapter the settings ask for: MongoDB for a mongodb:// DATABASE_HOST, else SQLite."""
    settings = settings or get_settings()
    host = settings.DATABASE_HOST
    if host.startswith(("mongodb://", "mongodb+srv://")):
        return MongoDocumentStore(host, settings.DATABASE_NAME, settings.DATABASE_TIMEOUT_S)
    if host:
        raise ConfigurationError("DATABASE_HOST must be empty or a mongodb:// URI")
    return SQLiteDocumentStore(settings.warehouse_path)
