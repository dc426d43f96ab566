"""A feature run killed mid-embedding, then re-run, ends exactly like an uninterrupted run;
and the ZenML pipeline runs end to end in its own process."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import reset_factories

from llm_engineering.application.preprocessing.features import FeatureConfig, run_feature_engineering
from llm_engineering.domain.cleaned_documents import cleaned_class
from llm_engineering.domain.documents import ArticleDocument, PostDocument, UserDocument
from llm_engineering.domain.embedded_chunks import embedded_class

ROOT = Path(__file__).resolve().parents[2]
CleanedArticleDocument, CleanedPostDocument = cleaned_class("articles"), cleaned_class("posts")
EmbeddedArticleChunk, EmbeddedPostChunk = embedded_class("articles"), embedded_class("posts")
CLASSES = (CleanedArticleDocument, CleanedPostDocument, EmbeddedArticleChunk, EmbeddedPostChunk)
CHUNKING = {"chunk_size": 24, "chunk_overlap": 4}
CHILD = (
    "from llm_engineering.application.preprocessing.features import FeatureConfig, run_feature_engineering\n"
    "from llm_engineering.bootstrap import bootstrap\n"
    "bootstrap()\n"
    f"run_feature_engineering(FeatureConfig(chunk_size={CHUNKING['chunk_size']}, "
    f"chunk_overlap={CHUNKING['chunk_overlap']}))\n"
)


def seed() -> int:
    author = UserDocument.get_or_create_by_name("Lee Seo-yeon")
    docs = []
    for i in range(6):
        text = "\n\n".join(
            f"Article {i}, part {p}: a killed run must leave nothing half-done behind it, "
            f"and the next run must finish the job exactly once. 재시작 {p}."
            for p in range(4)
        )
        docs.append(
            ArticleDocument(
                content={"Title": f"Article {i}", "Content": text},
                platform="blog",
                link=f"https://blog.example.org/{i}",
                author_id=author.id,
                author_full_name=author.full_name,
            )
        )
    docs.append(
        PostDocument(
            content={"Content": "A short post that is also embedded."},
            platform="linkedin",
            author_id=author.id,
            author_full_name=author.full_name,
        )
    )
    for doc in docs:
        doc.save()
    return len(docs)


def state():
    payloads, vectors = {}, {}
    for cls in CLASSES:
        for doc in cls.scroll(with_vectors=True):
            payloads[(cls.collection, str(doc.id))] = doc.model_dump(mode="json", exclude={"id", "embedding"})
            if cls.has_vector:
                vectors[str(doc.id)] = np.asarray(doc.embedding)
    return payloads, vectors


def child_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATA_DIR=str(data_dir),
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        TORCH_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        ZENML_ANALYTICS_OPT_IN="false",
        **extra,
    )
    return env


def run_and_kill_during_embedding(data_dir: Path, window: int) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env=child_env(data_dir, FEATURES_WINDOW_CHUNKS=str(window)),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True).start()
    seen, deadline = [], time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert proc.poll() is None, "the run ended before it could be killed:\n" + "".join(seen[-20:])
                continue
            seen.append(line)
            if "embedding window 3/" in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
        else:
            pytest.fail("the run never reached its third embedding window")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return seen


@pytest.mark.slow
def test_a_run_killed_while_embedding_resumes_to_the_same_state(data_dir, tmp_path, monkeypatch):
    total = seed()
    reset_factories()  # the child process must own the Qdrant folder
    run_and_kill_during_embedding(data_dir, window=3)

    done = CleanedArticleDocument.count() + CleanedPostDocument.count()
    assert 0 < done < total, "the kill should land part-way through"
    report = run_feature_engineering(FeatureConfig(**CHUNKING))
    assert report.total("documents_processed") == total - done
    resumed_payloads, resumed_vectors = state()

    # The same warehouse, embedded in one uninterrupted run, in a fresh folder.
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "reference"))
    reset_factories()
    seed()
    run_feature_engineering(FeatureConfig(**CHUNKING))
    payloads, vectors = state()

    assert resumed_payloads == payloads
    assert resumed_vectors.keys() == vectors.keys()
    assert all(np.allclose(resumed_vectors[k], vectors[k], atol=1e-5) for k in vectors)
    assert EmbeddedArticleChunk.count() == len([k for k in payloads if k[0] == "embedded_articles"]) > 12


@pytest.mark.slow
def test_feature_engineering_pipeline_runs_in_zenml(data_dir, tmp_path):
    seed()
    reset_factories()
    config = tmp_path / "features.yaml"
    config.write_text(
        "enable_cache: false\n"
        "parameters:\n"
        "  authors: [Lee Seo-yeon]\n"
        "  categories: [articles, posts]\n"
        "  chunking:\n"
        "    articles: {size: 32, overlap: 4}\n"
        "  show_progress: false\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "tools.run", "feature_engineering", "--config", str(config)],
        cwd=ROOT,
        env=child_env(data_dir, ZENML_CONFIG_PATH=str(tmp_path / "zenml")),
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert CleanedArticleDocument.count() == 6 and CleanedPostDocument.count() == 1
    chunks = list(EmbeddedArticleChunk.scroll())
    assert chunks and max(c.token_count for c in chunks) <= 32
    assert EmbeddedPostChunk.count() == 1
