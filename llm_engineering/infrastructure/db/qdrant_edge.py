"""The embedded vector store: Qdrant's own engine in-process (Qdrant Edge, ``qdrant-edge-py``).

``EdgeClient`` answers the part of ``qdrant_client.QdrantClient``'s interface the project uses
(collections, upserts, deletes, counts, scrolls and Query API batches, taking and returning
``qdrant_client.models`` objects), so ``VectorBaseDocument`` runs the same code against it,
against qdrant-client's memory mode and against a Qdrant server or cluster. Each collection is
one Edge shard in ``<folder>/edge/<collection>``: segments on disk, memory-mapped, with Qdrant's
HNSW, sparse inverted indexes, IDF and payload indexes. Opening a folder reads no points (the
local mode of qdrant-client loads every point into Python objects at open); searches run in
Rust.

One process owns a folder at a time (a lock file, like Qdrant's local mode); a second one gets
``StoreUnavailableError``.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from loguru import logger

from llm_engineering.exceptions import StoreUnavailableError

PAYLOAD_ONLY = "_payload_only"  # Edge needs one vector per shard: payload-only collections get an unused sparse one


class EdgeClient:
    def __init__(self, path: Path) -> None:
        import qdrant_edge  # noqa: F401  - fail here, with the import error, when it is missing

        self.path = Path(path)
        self.root = self.path / "edge"
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.path / ".lock", "a+")  # noqa: SIM115 - held until close(); local mode locks it too
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise StoreUnavailableError(
                f"the Qdrant folder {self.path} is in use by another process (the embedded store allows one "
                "process per folder). Stop the other pipeline or service, or run a Qdrant server and set QDRANT_URL."
            ) from None
        self._shards: dict[str, Any] = {}
        self._guard = threading.RLock()
        earlier = self.path / "collection"
        if earlier.is_dir() and any(earlier.iterdir()) and not self.get_collections().collections:
            logger.warning(
                "{} also holds collections of qdrant-client's local mode, which earlier versions used; the "
                "embedded store is now Qdrant Edge in {}: run the feature pipeline once to rebuild them there, "
                "then {} can be deleted (QDRANT_EMBEDDED=local keeps the old engine)",
                self.path,
                self.root,
                earlier,
            )

    # ---- collections -----------------------------------------------------------------------------
    def _folder(self, name: str) -> Path:
        return self.root / name

    def _shard(self, name: str):
        from qdrant_edge import EdgeShard

        with self._guard:
            shard = self._shards.get(name)
            if shard is None:
                if not self.collection_exists(name):
                    raise ValueError(f"Collection {name} not found")
                shard = self._shards[name] = EdgeShard.load(str(self._folder(name) / "shard"))
            return shard

    def collection_exists(self, name: str) -> bool:
        return (self._folder(name) / "collection.json").exists()

    def get_collections(self):
        names = sorted(p.name for p in self.root.iterdir() if (p / "collection.json").exists())
        return SimpleNamespace(collections=[SimpleNamespace(name=n) for n in names])

    def create_collection(self, name: str, vectors_config: Any = None, sparse_vectors_config: Any = None) -> bool:
        import qdrant_edge as qe

        if hasattr(vectors_config, "size"):  # one unnamed vector
            vectors_config = {"": vectors_config}
        dense = {key: params.size for key, params in (vectors_config or {}).items()}
        sparse = {
            key: getattr(getattr(params, "modifier", None), "value", None)
            for key, params in (sparse_vectors_config or {}).items()
        }
        config = qe.EdgeConfig(
            vectors={key: qe.EdgeVectorParams(size=size, distance=qe.Distance.Cosine) for key, size in dense.items()}
            or None,
            sparse_vectors={
                key: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if modifier == "idf" else None)
                for key, modifier in (sparse or {PAYLOAD_ONLY: None}).items()
            },
        )
        folder = self._folder(name)
        with self._guard:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            self._shards[name] = qe.EdgeShard.create(str(folder / "shard"), config)
            (folder / "collection.json").write_text(json.dumps({"dense": dense, "sparse": sparse}), encoding="utf-8")
        return True

    def get_collection(self, name: str):
        from qdrant_client.models import Distance, Modifier, SparseVectorParams, VectorParams

        meta = json.loads((self._folder(name) / "collection.json").read_text(encoding="utf-8"))
        vectors: Any = {key: VectorParams(size=size, distance=Distance.COSINE) for key, size in meta["dense"].items()}
        if list(vectors) == [""]:
            vectors = vectors[""]
        sparse = {
            key: SparseVectorParams(modifier=Modifier(modifier) if modifier else None)
            for key, modifier in meta["sparse"].items()
        }
        params = SimpleNamespace(vectors=vectors, sparse_vectors=sparse)
        points = self._shard(name).info().points_count
        return SimpleNamespace(config=SimpleNamespace(params=params), points_count=points)

    def delete_collection(self, name: str) -> bool:
        with self._guard:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            shutil.rmtree(self._folder(name), ignore_errors=True)
        return True

    def create_payload_index(self, name: str, field_name: str, field_schema: Any = None, **_: Any) -> None:
        import qdrant_edge as qe

        self._shard(name).update(qe.UpdateOperation.create_field_index(field_name, qe.PayloadSchemaType.Keyword))

    # ---- writes ----------------------------------------------------------------------------------
    def upsert(self, collection_name: str, points: list, wait: bool = True, **_: Any) -> None:
        import qdrant_edge as qe

        converted = [
            qe.Point(id=str(p.id), vector=_vectors(p.vector), payload=p.payload or {}) for p in points
        ]  # fmt: skip
        self._shard(collection_name).update(qe.UpdateOperation.upsert_points(converted))

    def delete(self, collection_name: str, points_selector: Any, wait: bool = True, **_: Any) -> None:
        import qdrant_edge as qe

        shard = self._shard(collection_name)
        if hasattr(points_selector, "filter"):
            shard.update(qe.UpdateOperation.delete_points_by_filter(_filter(points_selector.filter)))
        else:
            shard.update(qe.UpdateOperation.delete_points([str(i) for i in points_selector.points]))

    def optimize(self, collection_name: str) -> bool:
        """Run Qdrant's segment optimizers now, blocking: a segment past the indexing threshold
        (Qdrant's default: between 5,000 and 8,000 vectors of 384 dimensions) gets its HNSW graph,
        small segments are merged and deleted points vacuumed. A server runs them in the background
        after writes; an Edge shard only when asked. False when there was nothing to do (one
        writer's few thousand chunks, where exact search is as fast)."""
        with self._guard:
            return bool(self._shard(collection_name).optimize())

    # ---- reads -----------------------------------------------------------------------------------
    def count(self, collection_name: str, count_filter: Any = None, exact: bool = True, **_: Any):
        import qdrant_edge as qe

        request = qe.CountRequest(exact=True, filter=_filter(count_filter))
        return SimpleNamespace(count=self._shard(collection_name).count(request))

    def scroll(
        self,
        collection_name: str,
        scroll_filter: Any = None,
        limit: int = 10,
        offset: Any = None,
        with_payload: bool = True,
        with_vectors: bool = False,
        **_: Any,
    ):
        import qdrant_edge as qe

        request = qe.ScrollRequest(
            offset=str(offset) if offset is not None else None,
            limit=limit,
            filter=_filter(scroll_filter),
            with_payload=with_payload,
            with_vector=with_vectors,
        )
        records, next_offset = self._shard(collection_name).scroll(request)
        return [_point(r) for r in records], next_offset

    def query_batch_points(self, collection_name: str, requests: list, **_: Any) -> list:
        import qdrant_edge as qe

        batch = [
            qe.QueryRequest(
                limit=r.limit,
                query=qe.Query.Nearest(_vector(r.query), using=r.using),
                filter=_filter(r.filter),
                with_payload=bool(r.with_payload),
            )
            for r in requests
        ]
        results = self._shard(collection_name).query_batch(qe.QueryBatchRequest(batch))
        return [SimpleNamespace(points=[_point(p, p.score) for p in points]) for points in results]

    def close(self) -> None:
        with self._guard:
            for shard in self._shards.values():
                shard.flush()  # the next open then reads segments instead of replaying the write-ahead log
                shard.close()
            self._shards.clear()
            if not self._lock_file.closed:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                self._lock_file.close()


def _vector(value: Any):
    import qdrant_edge as qe

    if hasattr(value, "indices"):
        return qe.SparseVector(list(value.indices), list(value.values))
    return list(value)


def _vectors(value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _vector(v) for name, v in value.items()}
    return {"": _vector(value)}


def _point(record: Any, score: float | None = None):
    from qdrant_client.models import SparseVector

    vector = record.vector
    if isinstance(vector, dict) and list(vector) == [""]:
        vector = vector[""]
    elif isinstance(vector, dict):
        vector = {
            name: SparseVector(indices=list(v.indices), values=list(v.values)) if hasattr(v, "indices") else v
            for name, v in vector.items()
        }
    return SimpleNamespace(id=str(record.id), payload=record.payload, vector=vector, score=score)


def _filter(value: Any):
    """A ``qdrant_client.models.Filter`` of equality conditions (``build_filter``'s) for Edge."""
    import qdrant_edge as qe

    if value is None:
        return None
    conditions = []
    for condition in value.must or []:
        match = condition.match
        if hasattr(match, "any"):
            edge_match: Any = qe.MatchAny(list(match.any))
        else:
            edge_match = qe.MatchValue(match.value)
        conditions.append(qe.FieldCondition(condition.key, match=edge_match))
    return qe.Filter(must=conditions)
