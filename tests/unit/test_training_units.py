"""Training building blocks without the real model: dataset checks, configs, registry, packing."""

from __future__ import annotations

import json
import os

import pytest
import torch
from datasets import Dataset, DatasetDict

from llm_engineering.exceptions import ConfigurationError
from llm_engineering.model.finetuning.data import (
    INSTRUCT_COLUMNS,
    PREFERENCE_COLUMNS,
    DatasetFormatError,
    EmptyDatasetError,
    load_splits,
)
from llm_engineering.model.finetuning.sft import run_sft
from llm_engineering.model.finetuning.twin import TrainingConfig
from llm_engineering.model.registry import get_registry
from tools.gpu import packed as P


def instruct_rows(n, korean=False):
    q = "이 글의 요점은 무엇인가요?" if korean else "What is the point?"
    return [
        {
            "prompt": [{"role": "user", "content": f"{q} {i}"}],
            "completion": [{"role": "assistant", "content": f"answer {i}"}],
            "instruction": f"{q} {i}",
            "answer": f"answer {i}",
            "method": "backtranslation",
            "category": "articles",
            "author_full_name": "홍길동",
        }
        for i in range(n)
    ]


def test_instruct_dataset_is_trimmed_to_training_columns(tmp_path):
    dd = DatasetDict(
        {"train": Dataset.from_list(instruct_rows(3, korean=True)), "test": Dataset.from_list(instruct_rows(1))}
    )
    dd.save_to_disk(str(tmp_path / "ds"))
    loaded = load_splits(tmp_path / "ds", kind="instruct", columns=INSTRUCT_COLUMNS)
    assert loaded["train"].column_names == ["prompt", "completion"]
    assert loaded["train"][0]["prompt"][0]["content"].startswith("이 글의")
    assert len(loaded["test"]) == 1


def test_empty_train_split_is_a_clear_error():
    dd = DatasetDict({"train": Dataset.from_list(instruct_rows(1)).select([])})
    with pytest.raises(EmptyDatasetError, match="empty"):
        load_splits(dd, kind="instruct", columns=INSTRUCT_COLUMNS)


def test_missing_columns_are_named():
    rows = [{"prompt": r["prompt"], "answer": "x"} for r in instruct_rows(2)]
    with pytest.raises(DatasetFormatError, match="completion"):
        load_splits(DatasetDict({"train": Dataset.from_list(rows)}), kind="instruct", columns=INSTRUCT_COLUMNS)
    with pytest.raises(DatasetFormatError, match="chosen, rejected"):
        load_splits(
            DatasetDict({"train": Dataset.from_list(instruct_rows(2))}), kind="preference", columns=PREFERENCE_COLUMNS
        )


def test_plain_strings_instead_of_messages_are_rejected():
    rows = [{"prompt": "hello", "completion": "world"}]
    with pytest.raises(DatasetFormatError, match="chat messages"):
        load_splits(DatasetDict({"train": Dataset.from_list(rows)}), kind="instruct", columns=INSTRUCT_COLUMNS)


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(EmptyDatasetError, match="does not exist"):
        load_splits(tmp_path / "nope", kind="instruct", columns=INSTRUCT_COLUMNS)


def test_sft_on_empty_dataset_fails_before_writing_anything(tmp_path):
    empty = DatasetDict({"train": Dataset.from_list(instruct_rows(1)).select([])})
    with pytest.raises(EmptyDatasetError):
        run_sft(empty, output_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_training_config_round_trip_and_unknown_keys():
    config = TrainingConfig.from_dict({"sft": {"max_steps": 3, "lora": {"r": 8}}, "dpo": {"beta": 0.1}})
    assert config.sft.max_steps == 3 and config.sft.lora.r == 8 and config.dpo.beta == 0.1
    assert TrainingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigurationError, match="lerning_rate"):
        TrainingConfig.from_dict({"sft": {"lerning_rate": 1e-4}})
    with pytest.raises(ConfigurationError, match="positive"):
        TrainingConfig.from_dict({"dpo": {"beta": 0}})
    with pytest.raises(ConfigurationError, match="run_name"):
        TrainingConfig.from_dict({"run_name": "../escape"})


def test_shipped_training_config_parses():
    import pathlib

    import yaml

    root = pathlib.Path(__file__).resolve().parents[2]
    data = yaml.safe_load((root / "configs" / "training.yaml").read_text())
    config = TrainingConfig.from_dict(data["parameters"]["training"])
    assert config.sft.lora.r == 32 and config.sft.lora.alpha == 32 and config.dpo.beta == 0.5
    # a CPU default: a few minutes of training steps, split between the stages, on packed rows
    assert 0 < config.time_budget_s <= 300 and config.sft.packing
    assert config.sft.time_budget_s + config.dpo.time_budget_s == pytest.approx(config.time_budget_s)
    assert config.dpo.time_budget_s < config.sft.time_budget_s


# What a CPU run hands TRL whatever the stage: device settings, logging and checkpoints.
CPU_TRL_ARGS = {
    "bf16": False,
    "fp16": False,
    "use_cpu": True,
    "gradient_checkpointing": False,
    "report_to": [],
    "include_num_input_tokens_seen": "non_padding",
    "save_strategy": "steps",
    "eval_strategy": "no",
    "dataloader_pin_memory": False,
    "weight_decay": 0.01,
    "lr_scheduler_type": "linear",
    "logging_steps": 1,
    "save_steps": 50,
    "save_total_limit": 2,
    "seed": 42,
    "max_steps": -1,
    "per_device_train_batch_size": 2,
}


@pytest.mark.parametrize(
    ("stage", "shipped", "expected"),
    [
        ("sft", False, {"learning_rate": 3e-4, "num_train_epochs": 3, "gradient_accumulation_steps": 8,
                        "per_device_eval_batch_size": 8, "max_length": 2048, "warmup_steps": 10, "packing": False,
                        "packing_strategy": "bfd_split", "eval_packing": False, "completion_only_loss": True}),
        ("sft", True, {"learning_rate": 3e-4, "num_train_epochs": 3, "gradient_accumulation_steps": 1,
                       "per_device_eval_batch_size": 8, "max_length": 512, "warmup_steps": 2, "packing": True,
                       "packing_strategy": "bfd_split", "eval_packing": False, "completion_only_loss": True}),
        ("dpo", False, {"learning_rate": 2e-6, "num_train_epochs": 1, "gradient_accumulation_steps": 8,
                        "per_device_eval_batch_size": 4, "max_length": 2048, "warmup_steps": 10, "beta": 0.5,
                        "bf16": False}),
        ("dpo", True, {"learning_rate": 5e-5, "num_train_epochs": 1, "gradient_accumulation_steps": 1,
                       "per_device_eval_batch_size": 4, "max_length": 256, "warmup_steps": 1, "beta": 0.5,
                       "bf16": False}),
    ],
)  # fmt: skip
def test_trl_gets_the_arguments_of_the_run_config(tmp_path, stage, shipped, expected):
    """The defaults and configs/training.yaml reach TRL's SFTConfig/DPOConfig as they always did."""
    import pathlib

    import yaml

    data = {}
    if shipped:
        root = pathlib.Path(__file__).resolve().parents[2]
        data = yaml.safe_load((root / "configs" / "training.yaml").read_text())["parameters"]["training"]
    run_config = getattr(TrainingConfig.from_dict(data), stage)
    args = run_config.trl_args(tmp_path / "checkpoints", "cpu").to_dict()
    from llm_engineering.model.finetuning.base_config import cpu_computes_bf16

    # SFT: bf16 autocast where the CPU computes bf16 natively (cpu_bf16: null); DPO: fp32 (false)
    wanted = {**CPU_TRL_ARGS, "bf16": cpu_computes_bf16(), **expected, "output_dir": str(tmp_path / "checkpoints")}
    assert {key: args[key] for key in wanted} == wanted
    # what only the project reads never reaches TRL
    only_ours = {"lora", "time_budget_s", "max_eval_samples", "trainable_blocks", "train_embeddings", "cpu_bf16"}
    assert not only_ours & set(args)
    run_config.cpu_bf16 = False
    assert run_config.trl_args(tmp_path / "fp32", "cpu").to_dict()["bf16"] is False


def test_time_budget_of_zero_is_a_clear_error(monkeypatch):
    from llm_engineering.model.finetuning.sft import SFTRunConfig
    from llm_engineering.model.finetuning.twin import apply_overrides
    from llm_engineering.settings import get_settings

    with pytest.raises(ValueError, match="time_budget_s must be a positive number of seconds"):
        SFTRunConfig(time_budget_s=0)
    with pytest.raises(ConfigurationError, match="time_budget_s must be a positive"):
        TrainingConfig.from_dict({"time_budget_s": 0})
    monkeypatch.setenv("TRAINING_TIME_BUDGET_S", "0")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="TRAINING_TIME_BUDGET_S must be a positive number"):
            apply_overrides(TrainingConfig())
        monkeypatch.setenv("TRAINING_TIME_BUDGET_S", "90")
        get_settings.cache_clear()
        config = apply_overrides(TrainingConfig.from_dict({"time_budget_s": 600, "run_dpo": False}))
        assert config.time_budget_s == 90 and config.sft.time_budget_s == 90 and config.dpo.time_budget_s is None
    finally:
        get_settings.cache_clear()


def test_budgeted_schedule_learns_from_the_first_step_and_ends_at_its_floor():
    from llm_engineering.model.finetuning.callbacks import TimeBudget

    budget = TimeBudget(60, warmup_steps=0, min_lr_ratio=0.1)
    budget.planned_steps = 20
    factors = [budget.lr_factor(step) for step in range(21)]
    assert factors[0] == 1.0  # no ramp from zero
    assert all(a >= b for a, b in zip(factors, factors[1:], strict=False))
    assert factors[20] == pytest.approx(0.1)
    budget.planned_steps = 40  # replanned (slower steps): the decay stretches to the new end
    assert budget.lr_factor(20) > 0.5
    warm = TimeBudget(60, warmup_steps=2, min_lr_ratio=1.0)
    assert 0 < warm.lr_factor(0) < warm.lr_factor(1) < warm.lr_factor(2) == 1.0 == warm.lr_factor(50)


def test_time_budget_stops_at_its_planned_step_when_later_steps_run_faster():
    """The trainer loops to the config's last step: the plan made from the first (slow) steps must end
    the run, not only the clock ("step 5/4" was logged when later steps ran faster than the first)."""
    import time

    from transformers import TrainerControl, TrainerState

    from llm_engineering.model.finetuning.callbacks import TimeBudget

    budget = TimeBudget(1.0, calibration_steps=3)
    state, control = TrainerState(max_steps=100), TrainerControl()
    budget.on_train_begin(None, state, control)
    while not control.should_training_stop and state.global_step < 100:
        if state.global_step < 4:
            time.sleep(0.05)  # the first steps are slow; every later one is instant
        state.global_step += 1
        budget.on_step_end(None, state, control)
    assert budget.planned_steps is not None and 4 <= budget.planned_steps < 100
    assert state.global_step == budget.planned_steps == state.max_steps


def test_training_only_the_top_blocks_freezes_the_rest():
    from transformers import LlamaConfig, LlamaForCausalLM

    from llm_engineering.model.finetuning.common import top_blocks, train_only
    from llm_engineering.model.finetuning.lora import LoraSettings
    from llm_engineering.model.finetuning.sft import SFTRunConfig

    config = LlamaConfig(
        num_hidden_layers=4, hidden_size=32, intermediate_size=64, num_attention_heads=4, vocab_size=64
    )
    model = LlamaForCausalLM(config)
    train_only(model, top_blocks(model, 1))
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trained and all(name.startswith(("model.layers.3.", "model.norm.")) for name in trained)
    ids = torch.randint(0, 64, (1, 8))
    model(input_ids=ids, labels=ids).loss.backward()
    assert model.model.layers[3].mlp.up_proj.weight.grad is not None
    assert model.model.layers[2].mlp.up_proj.weight.grad is None  # backward stopped above the frozen blocks
    # every block but not the embeddings (tied to the output head here too)
    kept = LlamaForCausalLM(LlamaConfig(**{**config.to_dict(), "tie_word_embeddings": True}))
    train_only(kept, None, embeddings=False)
    trained = {name for name, p in kept.named_parameters() if p.requires_grad}
    assert {n.split(".")[2] for n in trained if n.startswith("model.layers.")} == {"0", "1", "2", "3"}
    assert not kept.model.embed_tokens.weight.requires_grad and not kept.lm_head.weight.requires_grad
    kept(input_ids=ids, labels=ids).loss.backward()
    assert kept.model.layers[0].mlp.up_proj.weight.grad is not None and kept.model.embed_tokens.weight.grad is None
    default = LlamaForCausalLM(config)
    train_only(default, None)
    assert all(p.requires_grad for p in default.parameters())  # the default: nothing frozen
    with pytest.raises(ConfigurationError, match="between 1 and 4"):
        top_blocks(model, 5)
    with pytest.raises(ValueError, match="positive number of blocks"):
        SFTRunConfig(trainable_blocks=0)
    # with LoRA the adapters go into the same top blocks only
    from peft import get_peft_model

    adapted = get_peft_model(LlamaForCausalLM(config), LoraSettings(r=2, alpha=4).peft_config(top_blocks(model, 2)))
    names = {name for name, p in adapted.named_parameters() if p.requires_grad}
    assert names and all(".layers.2." in name or ".layers.3." in name for name in names)


def _fake_version_folder(registry):
    staging = registry.staging()
    (staging / "model").mkdir()
    (staging / "model" / "config.json").write_text("{}")
    return staging


def test_registry_versions_are_numbered_and_latest_skips_unfinished():
    registry = get_registry()
    assert registry.latest() is None
    first = registry.publish(_fake_version_folder(registry), metrics={"sft": {"eval_loss": 1.0}}, config={})
    _fake_version_folder(registry)  # an unfinished staging folder must never count
    second = registry.publish(_fake_version_folder(registry), metrics={"sft": {"eval_loss": 0.5}}, config={"a": 1})
    assert (first.version, second.version) == ("v0001", "v0002")
    assert registry.latest() == second
    assert second.metrics["sft"]["eval_loss"] == 0.5
    assert json.loads((second.path / "manifest.json").read_text())["version"] == "v0002"


def test_registry_refuses_a_folder_without_model():
    registry = get_registry()
    with pytest.raises(ValueError, match="no model"):
        registry.publish(registry.staging(), metrics={}, config={})
    assert registry.latest() is None


def test_packing_keeps_examples_apart():
    batch = P.pack([([1, 2, 3, 4], 2), ([5, 6, 7], 1)], pad_id=0, pad_to_multiple=8)
    assert batch.input_ids.tolist() == [[1, 2, 3, 4, 5, 6, 7, 0]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 0, 1, 2, 0]]
    # completion targets only, and the last token of an example never predicts the next example
    assert batch.labels.tolist() == [-100, 3, 4, -100, 6, 7, -100, -100]
    assert batch.label_positions.tolist() == [1, 2, 4, 5]  # where the loss is read, known before the step
    assert batch.cu_seqlens.tolist() == [0, 4, 7, 8]
    assert (batch.n_tokens, batch.n_label_tokens, batch.n_examples) == (7, 4, 2)


def test_packed_loss_and_fused_gradients_match_separate_examples():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        attn_implementation="sdpa",
    )
    model = LlamaForCausalLM(config)
    examples = [([int(t) for t in torch.randint(0, 97, (n,))], p) for n, p in [(9, 3), (14, 5), (5, 2)]]
    total, count = 0.0, 0
    for ids, n_prompt in examples:
        x = torch.tensor([ids])
        labels = x.clone()
        labels[0, :n_prompt] = -100
        n = int((labels[0, 1:] != -100).sum())
        total += float(model(input_ids=x, labels=labels).loss.detach()) * n
        count += n
    P.use_varlen_attention(model)
    batch = P.pack(examples, pad_id=0, pad_to_multiple=16)
    plain = P.completion_loss(model, batch, fused=False)
    assert float(plain) == pytest.approx(total / count, rel=1e-5)
    plain.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    fused = P.completion_loss(model, batch, fused=True, chunk_size=5)
    fused.backward()
    assert float(fused) == pytest.approx(float(plain), rel=1e-6)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-4, atol=1e-6)


def test_model_ids_that_name_nothing_are_clear_errors(tmp_path):
    from llm_engineering.model.loading import ModelNotFoundError, resolve_model_dir, smollm2_gguf_path

    assert smollm2_gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model_dir(str(tmp_path / "no-such-model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="config.json"):
        resolve_model_dir(str(tmp_path / "empty"))
    with pytest.raises(ModelNotFoundError, match="Hugging Face cache"):
        resolve_model_dir("no-such-org-llm-twin/no-such-model")


def test_unchanged_datasets_and_config_reuse_the_newest_version(monkeypatch, tmp_path):
    from llm_engineering.model.finetuning.twin import training_fingerprint, unchanged_version
    from llm_engineering.settings import get_settings

    config = TrainingConfig.from_dict({"sft": {"max_steps": 3}})
    fingerprint = training_fingerprint(config, tmp_path / "instruct/abc", tmp_path / "preference/def")
    assert unchanged_version(fingerprint) is None  # empty registry
    registry = get_registry()
    version = registry.publish(
        _fake_version_folder(registry), metrics={}, config=config.to_dict(), manifest={"fingerprint": fingerprint}
    )
    assert unchanged_version(fingerprint) == version
    # bookkeeping options do not matter; the datasets and training knobs do
    renamed = TrainingConfig.from_dict({"sft": {"max_steps": 3}, "run_name": "other", "resume": False})
    assert training_fingerprint(renamed, tmp_path / "instruct/abc", tmp_path / "preference/def") == fingerprint
    assert training_fingerprint(config, tmp_path / "instruct/xyz", tmp_path / "preference/def") != fingerprint
    longer = TrainingConfig.from_dict({"sft": {"max_steps": 4}})
    assert training_fingerprint(longer, tmp_path / "instruct/abc", tmp_path / "preference/def") != fingerprint
    monkeypatch.setenv("TRAINING_FORCE", "true")
    get_settings.cache_clear()
    assert unchanged_version(fingerprint) is None


def test_busy_cores_counts_a_process_that_started_spinning_just_now():
    """Threads are sized from what keeps cores busy now: a process spinning for a fraction of a second
    counts as a busy core (the 1-minute load average would barely have moved)."""
    import subprocess
    import sys
    import time

    from llm_engineering.model.loading import busy_cores, usable_cores

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        assert 0.7 <= busy_cores() <= (os.cpu_count() or 1)
    finally:
        spinner.kill()
        spinner.wait()
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)
