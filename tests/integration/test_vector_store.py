"""The Qdrant ODM in local mode: collections, idempotent upserts, filtered search, deletes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from typing import ClassVar

import pytest

from llm_engineering.domain.base.vector import VectorBaseDocument
from llm_engineering.domain.identity import id_from
from llm_engineering.exceptions import StoreUnavailableError


class Note(VectorBaseDocument):
    """A payload-only collection, as the cleaned documents use."""

    text: str
    document_id: str
    collection: ClassVar[str] = "test_notes"


class NoteChunk(VectorBaseDocument):
    """A vector collection, as the embedded chunks use."""

    text: str
    document_id: str
    author_id: str
    embedding: list[float] | None = None
    collection: ClassVar[str] = "test_note_chunks"
    has_vector: ClassVar[bool] = True


def chunk(doc: str, i: int, vector: list[float], author: str = "a1") -> NoteChunk:
    return NoteChunk(id=id_from(doc, str(i)), text=f"{doc}-{i}", document_id=doc, author_id=author, embedding=vector)


def test_payload_only_collection_round_trip():
    notes = [Note(id=id_from("n", str(i)), text=f"메모 {i}", document_id=f"d{i % 2}") for i in range(5)]
    assert Note.bulk_upsert(notes) == 5
    assert Note.bulk_upsert(notes) == 5  # same ids: overwritten, not duplicated
    assert Note.count() == 5
    assert Note.count(document_id="d0") == 3
    assert {n.text for n in Note.scroll(batch_size=2)} == {f"메모 {i}" for i in range(5)}


def test_vector_search_filters_and_deletes():
    chunks = [
        chunk("doc-a", 0, [1.0, 0.0, 0.0]),
        chunk("doc-a", 1, [0.9, 0.1, 0.0]),
        chunk("doc-b", 0, [0.0, 1.0, 0.0], author="a2"),
        chunk("doc-c", 0, [0.0, 0.0, 1.0], author="a2"),
    ]
    NoteChunk.bulk_upsert(chunks, batch_size=3)
    hits = NoteChunk.search([1.0, 0.05, 0.0], limit=2)
    assert [h.text for h, _ in hits] == ["doc-a-0", "doc-a-1"]
    assert hits[0][1] >= hits[1][1]
    only_a2 = NoteChunk.search([1.0, 0.0, 0.0], limit=5, author_id="a2")
    assert {h.document_id for h, _ in only_a2} == {"doc-b", "doc-c"}
    NoteChunk.delete_where(document_id="doc-a")
    assert NoteChunk.count() == 2 and NoteChunk.count(document_id="doc-a") == 0
    NoteChunk.delete_ids([chunks[2].id])
    assert [c.text for c in NoteChunk.scroll(with_vectors=True)] == ["doc-c-0"]
    assert next(NoteChunk.scroll(with_vectors=True)).embedding == pytest.approx([0.0, 0.0, 1.0])


def test_search_on_missing_collection_is_empty_and_create_needs_size():
    assert NoteChunk.search([1.0, 0.0], limit=3) == []
    assert NoteChunk.count() == 0
    with pytest.raises(ValueError, match="vector size"):
        NoteChunk.create_collection()
    assert NoteChunk.create_collection(3) is True
    assert NoteChunk.create_collection(3) is False


def test_folder_held_by_another_process_gives_a_clear_error(data_dir):
    Note.bulk_upsert([Note(id=uuid.uuid4(), text="kept", document_id="d")])
    from conftest import reset_factories

    reset_factories()  # release our own client so another process can take the folder
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from qdrant_client import QdrantClient
                client = QdrantClient(path={str(data_dir / "qdrant")!r})
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreUnavailableError, match="in use by another process"):
            Note.count()
    finally:
        holder.kill()
        holder.wait()
    reset_factories()
    assert [n.text for n in Note.scroll()] == ["kept"]


def test_local_mode_writes_through_a_write_ahead_log(data_dir, monkeypatch):
    """qdrant-client's local mode commits once per point; its collection file must be in WAL mode
    by the first write, or every point waits for an fsync (~60 points/s instead of thousands)."""
    import sqlite3

    from conftest import reset_factories

    monkeypatch.setenv("QDRANT_EMBEDDED", "local")
    reset_factories()
    Note.bulk_upsert([Note(id=id_from("wal", str(i)), text=f"note {i}", document_id="d") for i in range(3)])
    Note.delete_ids([id_from("wal", "0")])
    assert Note.count() == 2
    reset_factories()  # close the local client so the file can be read here
    files = list((data_dir / "qdrant" / "collection" / Note.collection).glob("*.sqlite"))
    assert files, "no local-mode collection file"
    with sqlite3.connect(files[0]) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_large_collection_gets_a_search_index_that_finds_the_same_nearest_points(monkeypatch):
    """The embedded Edge store searches a collection past Qdrant's indexing threshold by exact scan
    until its optimizers run; build_indexes runs them (the feature pipeline calls it after
    writing), once, and the indexed search still finds each point's true neighbours."""
    import numpy as np
    from conftest import reset_factories

    vectors = np.random.default_rng(0).standard_normal((8000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    NoteChunk.bulk_upsert([chunk("doc-big", i, vectors[i].tolist()) for i in range(8000)])
    probes = range(0, 8000, 400)
    exact = [[h.id for h, _ in NoteChunk.search(vectors[i].tolist(), limit=5)] for i in probes]
    assert NoteChunk.build_indexes() is True
    assert NoteChunk.build_indexes() is False  # nothing left to do
    indexed = [[h.id for h, _ in NoteChunk.search(vectors[i].tolist(), limit=5)] for i in probes]
    assert [ids[0] for ids in indexed] == [id_from("doc-big", str(i)) for i in probes]
    # HNSW is approximate: random 384-dimensional vectors (its hardest case: every neighbour almost
    # equally far) still keep most of the exact top 5
    kept = sum(len(set(a) & set(b)) for a, b in zip(indexed, exact, strict=True)) / (5 * len(exact))
    assert kept >= 0.8, kept

    Note.bulk_upsert([Note(id=id_from("n", "0"), text="small", document_id="d")])
    assert Note.build_indexes() is False  # below the threshold: exact search stays
    monkeypatch.setenv("QDRANT_EMBEDDED", "local")
    reset_factories()
    NoteChunk.bulk_upsert([chunk("doc-a", 0, [1.0, 0.0, 0.0])])
    assert NoteChunk.build_indexes() is False  # local mode has no indexes to build
