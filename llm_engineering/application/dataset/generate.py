"""Build the instruction and preference datasets from cleaned documents.

``generate_instruct_dataset`` and ``generate_preference_dataset`` take cleaned documents and a
configuration, and return the saved ``DatasetDict`` with a ``DatasetReport``. The steps are:
extracts -> samples (by the configured mode) -> length/language filters -> exact and near
de-duplication -> seeded stratified split -> decontamination -> save (versioned folder, JSONL,
metadata, optional Hub push).

Modes of the instruction dataset:

* ``synthetic``: a model writes ``pairs_per_extract`` instruction/answer pairs per extract;
* ``backtranslation``: the answer is the extract itself (the author's words) and only the
  instruction is written, by a model (``instruction_writer: llm``) or by the deterministic
  template of ``templates.py`` (``template``; ``auto`` picks the model only when an
  OpenAI-compatible server is configured with ``LLM_BASE_URL``, since the small local model
  writes poor instructions). Each sample's ``method`` says which.

Preference triples use the same instructions; ``chosen`` is the author's extract and
``rejected`` a generic answer of the configured model (local SmolLM2 by default) to the
instruction alone.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_engineering.application.dataset import prompts, store
from llm_engineering.application.dataset.extracts import ExtractConfig, make_extracts
from llm_engineering.application.dataset.llm_calls import CallStats, GenerationConfig, ResponseCache, run_chats
from llm_engineering.application.dataset.parsing import InstructionAnswer, InstructionOnly, parse_items
from llm_engineering.application.dataset.quality import (
    FilterConfig,
    content_key,
    decontaminate,
    drop_exact_duplicates,
    drop_near_duplicates,
    quality_filter,
    stratified_split,
)
from llm_engineering.application.dataset.templates import template_instruction
from llm_engineering.application.text import fold, normalize
from llm_engineering.domain.cleaned_documents import cleaned_class
from llm_engineering.domain.dataset import (
    DatasetKind,
    DatasetReport,
    Extract,
    GenerationMethod,
    InstructSample,
    PreferenceSample,
)
from llm_engineering.domain.documents import declared_categories
from llm_engineering.domain.identity import id_from, name_key
from llm_engineering.exceptions import ConfigurationError, LLMTwinError
from llm_engineering.infrastructure.llm import get_llm
from llm_engineering.model.registry import get_registry
from llm_engineering.settings import get_settings


class DatasetGenerationError(LLMTwinError):
    """Dataset generation cannot start or finish (no input, no model); the message says why."""


class _BaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instruction_writer: Literal["auto", "llm", "template"] = Field(
        "auto", description="who writes back-translation instructions; auto: llm only with LLM_BASE_URL"
    )
    fallback_to_template: bool = Field(True, description="template instruction where the model gave none")
    categories: list[str] = Field(default_factory=list, description="data categories to use; empty: all")
    authors: list[str] = Field(default_factory=list, description="author full names to use; empty: all")
    max_extracts: int | None = Field(None, ge=1, description="use only the first N extracts (quick runs)")
    system_prompt: str | None = Field(None, description="system message put in every sample's prompt")
    test_size: float = Field(0.1, ge=0, lt=1)
    seed: int = 42
    llm_model_id: str | None = Field(None, description="model for get_llm(); empty: LLM_MODEL_ID / server default")
    extracts: ExtractConfig = Field(default_factory=ExtractConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    instruction_generation: GenerationConfig = Field(default_factory=lambda: GenerationConfig(max_tokens=128))
    export_jsonl: bool = True
    push_to_hub: bool = Field(True, description="push when a Hub token and repo id are set")
    reuse_existing: bool = Field(True, description="return the saved dataset of identical inputs and config")

    def version_fields(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"export_jsonl", "push_to_hub", "reuse_existing"})


class InstructDatasetConfig(_BaseConfig):
    mode: Literal["synthetic", "backtranslation"] = "backtranslation"
    pairs_per_extract: int = Field(3, ge=1, le=20)
    synthetic_generation: GenerationConfig = Field(default_factory=lambda: GenerationConfig(max_tokens=1024))


class PreferenceDatasetConfig(_BaseConfig):
    mode: Literal["backtranslation"] = Field("backtranslation", description="chosen is always the author's own text")
    test_size: float = Field(0.05, ge=0, lt=1)
    rejected_system_prompt: str | None = Field(None, description="system message for the rejected answers")
    rejected_generation: GenerationConfig = Field(default_factory=lambda: GenerationConfig(max_tokens=128))
    min_rejected_chars: int = Field(1, ge=1)


def parse_config(cls: type[_BaseConfig], data: dict | _BaseConfig | None) -> _BaseConfig:
    """A config from a YAML mapping, with one clear message listing every bad field."""
    if isinstance(data, cls):
        return data
    try:
        return cls.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigurationError(f"invalid {cls.__name__}: {problems}") from None


# ---- input -----------------------------------------------------------------------------------


def load_cleaned_documents(categories: Sequence[str] = (), authors: Sequence[str] = ()) -> list:
    """Cleaned documents from the vector store's ``cleaned_*`` collections, in a stable order."""
    try:
        classes = [cleaned_class(c) for c in categories or declared_categories()]
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    wanted = {name_key(a) for a in authors}
    docs = [doc for cls in classes for doc in cls.scroll() if not wanted or name_key(doc.author_full_name) in wanted]
    logger.info("loaded {} cleaned documents", len(docs))
    return sorted(docs, key=lambda d: (str(d.category), d.author_full_name, str(d.document_id)))


def _select(documents: Iterable[Any], config: _BaseConfig) -> list[Any]:
    categories = {str(c) for c in config.categories}
    authors = {name_key(a) for a in config.authors}
    out = []
    for doc in documents:
        if categories and str(getattr(doc, "category", "")) not in categories:
            continue
        if authors and name_key(getattr(doc, "author_full_name", "")) not in authors:
            continue
        out.append(doc)
    return out


def _inputs(documents: Sequence[Any]) -> list[tuple[str, str]]:
    return [(str(getattr(d, "document_id", None) or d.id), str(getattr(d, "content_hash", ""))) for d in documents]


# ---- model access ----------------------------------------------------------------------------


class _Models:
    """Lazily built LLM client and response cache (nothing loads for a template-only run)."""

    def __init__(self, config: _BaseConfig, llm_factory: Callable | None, settings) -> None:
        self.config = config
        self.llm_factory = llm_factory
        self.settings = settings
        self._client = None
        self._cache: ResponseCache | None = None

    @property
    def client(self):
        if self._client is None:
            self._client = (self.llm_factory or get_llm)(self.config.llm_model_id)
        return self._client

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            folder = getattr(self.settings, "DATASET_LLM_CACHE_DIR", None) or self.settings.DATA_DIR / "cache" / "llm"
            self._cache = ResponseCache(folder)
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()


def _model_identity(client) -> str:
    """The client's model id; for the registry's ``latest``, the version it stands for now."""
    model_id = client.model_id
    if model_id == "latest":
        version = get_registry().latest()
        return f"latest={version.version}" if version is not None else "latest=base"
    return model_id


def _uses_llm_for_instructions(config: _BaseConfig, settings) -> bool:
    if getattr(config, "mode", "") == "synthetic":
        return True
    if config.instruction_writer == "auto":
        return bool(getattr(settings, "LLM_BASE_URL", ""))
    return config.instruction_writer == "llm"


def _from_extract(extract: Extract) -> dict[str, Any]:
    """The fields every sample takes from the extract it was made from."""
    return {
        "category": extract.category,
        "author_full_name": extract.author_full_name,
        "document_id": extract.document_id,
        "extract_id": extract.id,
    }


def write_instructions(
    extracts: Sequence[Extract], config: _BaseConfig, models: _Models, use_llm: bool, stats: CallStats
) -> list[tuple[str, GenerationMethod] | None]:
    """An instruction for each extract (None where none could be written)."""
    if not use_llm:
        return [(template_instruction(e), GenerationMethod.TEMPLATE) for e in extracts]
    replies, call_stats = run_chats(
        models.client,
        [prompts.backtranslation_messages(e) for e in extracts],
        config.instruction_generation,
        models.cache,
        what="instructions",
    )
    stats.merge(call_stats)
    out: list[tuple[str, GenerationMethod] | None] = []
    for extract, reply in zip(extracts, replies, strict=True):
        parsed = parse_items(reply.text if reply else None, InstructionOnly, limit=1)
        if reply is not None:
            stats.parse_failures.update(parsed.failures)
        if parsed.items:
            out.append((normalize(parsed.items[0].instruction), GenerationMethod.BACKTRANSLATION))
        elif config.fallback_to_template:
            stats.parse_failures["template_fallback"] += 1
            out.append((template_instruction(extract), GenerationMethod.TEMPLATE))
        else:
            out.append(None)
    return out


def synthetic_samples(
    extracts: Sequence[Extract], config: InstructDatasetConfig, models: _Models, stats: CallStats
) -> list[InstructSample]:
    replies, call_stats = run_chats(
        models.client,
        [prompts.synthetic_messages(e, config.pairs_per_extract) for e in extracts],
        config.synthetic_generation,
        models.cache,
        what="synthetic pairs",
    )
    stats.merge(call_stats)
    samples = []
    for extract, reply in zip(extracts, replies, strict=True):
        if reply is None:
            continue
        parsed = parse_items(reply.text, InstructionAnswer, limit=config.pairs_per_extract)
        stats.parse_failures.update(parsed.failures)
        for n, item in enumerate(parsed.items):
            samples.append(
                InstructSample(
                    id=str(id_from("instruct", "synthetic", extract.id, str(n))),
                    instruction=normalize(item.instruction),
                    answer=item.answer.strip(),
                    method=GenerationMethod.SYNTHETIC,
                    **_from_extract(extract),
                )
            )
    return samples


# ---- shared tail: quality gates, split, save --------------------------------------------------


def _curate(samples: list, config: _BaseConfig, dropped: Counter[str]) -> tuple[list, list]:
    filters = config.filters
    samples = sorted(samples, key=content_key)  # which of two duplicates stays must not depend on paths
    samples, counts = quality_filter(samples, filters)
    dropped.update(counts)
    samples, n = drop_exact_duplicates(samples)
    dropped["exact_duplicate"] += n
    samples, n = drop_near_duplicates(samples, filters.near_duplicate_threshold, filters.num_perm, filters.shingle_size)
    dropped["near_duplicate"] += n
    train, test = stratified_split(samples, config.test_size, config.seed)
    train, test, moved = decontaminate(
        train, test, filters.decontamination_threshold, filters.num_perm, filters.shingle_size
    )
    dropped["decontaminated_moved_to_train"] += moved
    return train, test


def _features(kind: DatasetKind):
    from datasets import Features, Value

    message = [{"role": Value("string"), "content": Value("string")}]
    columns: dict[str, Any] = {"prompt": message}
    if kind is DatasetKind.INSTRUCT:
        columns["completion"] = message
    else:
        columns["chosen"] = message
        columns["rejected"] = message
    columns["instruction"] = Value("string")
    if kind is DatasetKind.INSTRUCT:
        columns["answer"] = Value("string")
    for name in ("method", "category", "author_full_name", "document_id"):
        columns[name] = Value("string")
    return Features(columns)


def build_dataset_dict(kind: DatasetKind, train: Sequence, test: Sequence, system_prompt: str | None):
    from datasets import Dataset, DatasetDict

    features = _features(kind)

    def table(rows: Sequence) -> Dataset:
        dicts = [s.to_row(system_prompt) for s in rows]
        return Dataset.from_dict({name: [d[name] for d in dicts] for name in features}, features=features)

    return DatasetDict({"train": table(train), "test": table(test)})


def _report(kind, version, folder, documents, extracts, train, test, dropped, stats, model_id, started):
    everything = [*train, *test]
    return DatasetReport(
        kind=kind,
        version=version,
        path=str(folder),
        documents=len(documents),
        extracts=len(extracts),
        samples={"train": len(train), "test": len(test)},
        by_category=dict(sorted(Counter(s.category for s in everything).items())),
        by_method=dict(sorted(Counter(s.method.value for s in everything).items())),
        by_author=dict(sorted(Counter(s.author_full_name for s in everything).items())),
        dropped={k: v for k, v in sorted(dropped.items()) if v},
        generation=stats.as_dict(),
        model_id=model_id,
        seconds=round(time.perf_counter() - started, 2),
    )


def _hub_repo(kind: DatasetKind, settings) -> str:
    name = "DATASET_HUB_INSTRUCT_REPO_ID" if kind is DatasetKind.INSTRUCT else "DATASET_HUB_PREFERENCE_REPO_ID"
    return str(getattr(settings, name, "") or "")


def _finish(kind, dataset_dict, report: DatasetReport, config: _BaseConfig, folder, settings):
    metadata = report.model_dump(mode="json")
    metadata["config"] = config.model_dump(mode="json")
    store.write_dataset(dataset_dict, folder, metadata, export_jsonl=config.export_jsonl)
    token = getattr(settings, "HUGGINGFACE_ACCESS_TOKEN", None)
    repo = _hub_repo(kind, settings)
    if config.push_to_hub and token is not None and token.get_secret_value() and repo:
        try:
            report.pushed_to = store.push_to_hub(dataset_dict, repo, token)
        except Exception as exc:  # any Hub or network failure means the same to the user
            raise DatasetGenerationError(
                f"pushing the {kind.value} dataset to the Hub repository {repo} failed ({type(exc).__name__}); "
                f"it is saved locally in {folder}"
            ) from None
        logger.info("pushed the {} dataset to the Hub repository {}", kind.value, repo)
        metadata["pushed_to"] = repo
        store.write_metadata(folder, metadata)
    return dataset_dict, report


def _start(kind: DatasetKind, documents, config: _BaseConfig, use_llm: bool, models: _Models, settings):
    documents = _select(documents, config)
    if not documents:
        narrowed = config.categories or config.authors
        selection = f" (categories={config.categories}, authors={config.authors})" if narrowed else ""
        raise DatasetGenerationError(
            f"no cleaned documents to build a dataset from{selection}; run the feature engineering pipeline first"
        )
    model_id = _model_identity(models.client) if use_llm else None
    fields = {**config.version_fields(), **(models.client.output_settings if use_llm else {})}
    version = store.dataset_version(kind, _inputs(documents), fields, model_id)
    folder = store.version_dir(kind, version, store.dataset_root(settings))
    return documents, model_id, version, folder


def _reuse(kind, folder, version) -> tuple[Any, DatasetReport]:
    metadata = store.load_metadata(str(folder))
    metadata.pop("config", None)
    report = DatasetReport.model_validate({**metadata, "reused": True, "version": version, "path": str(folder)})
    store.set_latest(folder)
    logger.info("reusing the {} dataset {} (same inputs and configuration)", kind.value, folder)
    return store.load_dataset_dict(str(folder)), report


def own_text_samples(
    extracts: Sequence[Extract], config: InstructDatasetConfig, models: _Models, use_llm: bool, stats: CallStats
) -> list[InstructSample]:
    """Back-translation: the author's extract is the answer to a written instruction."""
    written_all = write_instructions(extracts, config, models, use_llm, stats)
    return [
        InstructSample(
            id=str(id_from("instruct", "own-text", extract.id)),
            instruction=written[0],
            answer=extract.text,
            method=written[1],
            **_from_extract(extract),
        )
        for extract, written in zip(extracts, written_all, strict=True)
        if written is not None
    ]


def _instruct_samples(extracts, config: InstructDatasetConfig, models, use_llm, stats, dropped) -> list:
    if config.mode == "synthetic":
        samples = synthetic_samples(extracts, config, models, stats)
        dropped["generation_failed"] = sum(stats.parse_failures.values())  # items and replies lost
        dropped["llm_errors"] = stats.llm_errors  # extracts whose request kept failing
        return samples
    samples = own_text_samples(extracts, config, models, use_llm, stats)
    # With fallback_to_template, a failed request still gives a (template) instruction.
    dropped["generation_failed"] = len(extracts) - len(samples)
    return samples


def _preference_candidates(extracts, config: PreferenceDatasetConfig, models, use_llm, stats, dropped) -> list:
    """Preference samples without their rejected answer, past the quality filter (so that no
    rejected answer is paid for a sample the filter would drop)."""
    written = write_instructions(extracts, config, models, use_llm, stats)
    pairs = [(e, w) for e, w in zip(extracts, written, strict=True) if w is not None]
    dropped["generation_failed"] = len(extracts) - len(pairs)
    candidates = [
        PreferenceSample(
            id=str(id_from("preference", extract.id)),
            instruction=instruction,
            chosen=extract.text,
            rejected="",
            method=method,
            **_from_extract(extract),
        )
        for extract, (instruction, method) in pairs
    ]
    candidates, counts = quality_filter(candidates, config.filters)
    dropped.update(counts)
    return candidates


def _preference_samples(extracts, config: PreferenceDatasetConfig, models, use_llm, stats, dropped) -> list:
    candidates = _preference_candidates(extracts, config, models, use_llm, stats, dropped)
    replies, call_stats = run_chats(
        models.client,
        [prompts.answer_messages(s.instruction, config.rejected_system_prompt) for s in candidates],
        config.rejected_generation,
        models.cache,
        what="rejected answers",
    )
    stats.merge(call_stats)
    dropped["llm_errors"] = call_stats.llm_errors  # rejected answers that kept failing
    samples = []
    for sample, reply in zip(candidates, replies, strict=True):
        if reply is None:
            continue
        rejected = reply.text.strip()
        if len(rejected) < config.min_rejected_chars:
            dropped["rejected_empty"] += 1
        elif fold(rejected) == fold(sample.chosen):
            dropped["rejected_equals_chosen"] += 1
        else:
            samples.append(sample.model_copy(update={"rejected": rejected}))
    return samples


# What differs between the two kinds: the config, the samples, what the samples are called in
# messages, and whether a model is always part of the version (rejected answers always need one).
_KINDS: dict[DatasetKind, tuple[type[_BaseConfig], Callable, str, bool]] = {
    DatasetKind.INSTRUCT: (InstructDatasetConfig, _instruct_samples, "instruction", False),
    DatasetKind.PREFERENCE: (PreferenceDatasetConfig, _preference_samples, "preference", True),
}


def _generate(kind: DatasetKind, documents, config, llm_factory, settings):
    """The one generation run both kinds share: select, version, reuse or build, curate, save."""
    config_class, make_samples, label, always_uses_model = _KINDS[kind]
    started = time.perf_counter()
    config = parse_config(config_class, config)
    settings = settings or get_settings()
    models = _Models(config, llm_factory, settings)
    use_llm = _uses_llm_for_instructions(config, settings)
    try:
        documents, model_id, version, folder = _start(
            kind, documents, config, use_llm or always_uses_model, models, settings
        )
        if config.reuse_existing and store.is_complete(folder):
            return _reuse(kind, folder, version)
        extracts = make_extracts(documents, config.extracts)[: config.max_extracts]
        stats = CallStats()
        dropped: Counter[str] = Counter()
        samples = make_samples(extracts, config, models, use_llm, stats, dropped)
        train, test = _curate(samples, config, dropped)
        if not train and not test:
            logger.warning("the {} dataset is empty: every sample failed or was filtered ({})", label, dict(dropped))
        report = _report(kind, version, folder, documents, extracts, train, test, dropped, stats, model_id, started)
        dataset_dict = build_dataset_dict(kind, train, test, config.system_prompt)
        return _finish(kind, dataset_dict, report, config, folder, settings)
    finally:
        models.close()


def generate_instruct_dataset(
    documents: Iterable[Any],
    config: InstructDatasetConfig | dict | None = None,
    llm_factory: Callable | None = None,
    settings=None,
):
    """The instruction ``DatasetDict`` (train/test) of ``documents`` and its ``DatasetReport``."""
    return _generate(DatasetKind.INSTRUCT, documents, config, llm_factory, settings)


def generate_preference_dataset(
    documents: Iterable[Any],
    config: PreferenceDatasetConfig | dict | None = None,
    llm_factory: Callable | None = None,
    settings=None,
):
    """The preference ``DatasetDict`` (train/test) of ``documents`` and its ``DatasetReport``."""
    return _generate(DatasetKind.PREFERENCE, documents, config, llm_factory, settings)
