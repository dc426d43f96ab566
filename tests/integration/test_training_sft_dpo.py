"""SFT and DPO on the real SmolLM2-135M (CPU, a few steps on tiny datasets)."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from datasets import Dataset, DatasetDict

pytestmark = pytest.mark.slow

COLOURS = ["teal", "amber", "crimson", "olive"]


def instruct(n, offset=0):
    rows = []
    for i in range(offset, offset + n):
        question = f"What colour is the house at number {i}?"
        answer = f"The house at number {i} is painted {COLOURS[i % 4]}, like every house on Elm Street."
        rows.append(
            {
                "prompt": [{"role": "user", "content": question}],
                "completion": [{"role": "assistant", "content": answer}],
                "instruction": question,
                "answer": answer,
                "method": "test",
                "category": "articles",
                "author_full_name": "Test Author",
            }
        )
    return Dataset.from_list(rows)


def preference(n):
    rows = []
    for i in range(n):
        question = f"Describe house {i}."
        rows.append(
            {
                "prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": f"House {i} is {COLOURS[i % 4]}."}],
                "rejected": [{"role": "assistant", "content": f"I do not know anything about house {i}."}],
                "instruction": question,
                "method": "test",
                "category": "posts",
                "author_full_name": "Test Author",
            }
        )
    return Dataset.from_list(rows)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    """Convert the base model once for the module (or reuse MODEL_CACHE_DIR when the caller set one).

    Module fixtures run before the per-test DATA_DIR fixture, so this one points DATA_DIR at a
    private folder of its own while module-level training runs.
    """
    from llm_engineering.settings import get_settings

    saved = {k: os.environ.get(k) for k in ("MODEL_CACHE_DIR", "DATA_DIR")}
    # one converted base model per test session, shared with the pipeline test
    os.environ["MODEL_CACHE_DIR"] = saved["MODEL_CACHE_DIR"] or str(tmp_path_factory.getbasetemp() / "model_cache")
    os.environ["DATA_DIR"] = str(tmp_path_factory.mktemp("module_data"))
    get_settings.cache_clear()
    torch.set_num_threads(1)
    yield os.environ["MODEL_CACHE_DIR"]
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def run_root(tmp_path_factory):
    return tmp_path_factory.mktemp("training_runs")


def small_sft_config(**overrides):
    from llm_engineering.model.finetuning.lora import LoraSettings
    from llm_engineering.model.finetuning.sft import SFTRunConfig

    values = dict(
        max_steps=6,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        warmup_steps=0,
        save_steps=3,
        max_eval_samples=4,
        max_length=128,
        lora=LoraSettings(r=8, alpha=16),
    )
    values.update(overrides)
    return SFTRunConfig(**values)


@pytest.fixture(scope="module")
def instruct_data():
    return DatasetDict({"train": instruct(16), "test": instruct(4, offset=100)})


@pytest.fixture(scope="module")
def sft_result(model_cache, run_root, instruct_data):
    from llm_engineering.model.finetuning.sft import run_sft

    return run_sft(instruct_data, small_sft_config(), output_dir=run_root / "sft", device="cpu")


def test_a_few_sft_steps_lower_the_loss(sft_result):
    metrics = sft_result.metrics
    assert metrics["global_step"] == 6
    assert metrics["eval_loss"] < metrics["eval_loss_before"] - 0.1
    curve = [point["loss"] for point in metrics["loss_curve"]]
    assert len(curve) == 6 and curve[-1] < curve[0]
    assert metrics["tokens_per_second"] > 0 and metrics["train_tokens"] > 0
    assert (sft_result.adapter_dir / "adapter_config.json").is_file()


def test_merged_model_loads_with_plain_transformers_and_generates(sft_result):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert list(sft_result.model_dir.glob("*.safetensors"))
    tokenizer = AutoTokenizer.from_pretrained(sft_result.model_dir)
    model = AutoModelForCausalLM.from_pretrained(sft_result.model_dir)
    assert not hasattr(model, "peft_config")  # a plain model: the adapter is folded in
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What colour is the house at number 7?"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert answer.strip()
    # the tuned model has learned the training pattern better than the base did
    assert sft_result.metrics["eval_loss"] < sft_result.metrics["eval_loss_before"]


def test_saved_chat_template_renders_like_training(sft_result):
    from transformers import AutoTokenizer

    from llm_engineering.model.chat import render_chat, render_example
    from llm_engineering.model.loading import load_tokenizer

    training_tokenizer = load_tokenizer(sft_result.base_model_dir)
    saved = AutoTokenizer.from_pretrained(sft_result.model_dir)
    conversations = [
        [{"role": "user", "content": "What colour is the house at number 3?"}],
        [{"role": "system", "content": "너는 저자의 문체로 답한다."}, {"role": "user", "content": "이 글의 요점은?"}],
    ]
    for messages in conversations:
        assert render_chat(saved, messages) == render_chat(training_tokenizer, messages)
    # what TRL trained on is exactly the rendered prompt followed by the rendered completion
    row = instruct(1)[0]
    full = render_example(training_tokenizer, row["prompt"], row["completion"])
    assert full.startswith(render_chat(training_tokenizer, row["prompt"]))
    assert full.endswith(row["completion"][0]["content"] + "<|im_end|>\n")


def test_resume_from_checkpoint_continues_the_step_count(sft_result, run_root, instruct_data):
    from llm_engineering.model.finetuning.sft import run_sft

    interrupted = run_root / "interrupted"
    # a run that stopped after its checkpoint at step 3
    shutil.copytree(
        sft_result.output_dir / "checkpoints" / "checkpoint-3", interrupted / "checkpoints" / "checkpoint-3"
    )
    resumed = run_sft(instruct_data, small_sft_config(), output_dir=interrupted, resume=True, device="cpu")
    assert resumed.metrics["resumed"] is True
    assert resumed.metrics["global_step"] == 6
    assert [p["step"] for p in resumed.metrics["loss_curve"]] == [4, 5, 6]


def test_dpo_from_the_sft_model_logs_rewards(sft_result, run_root):
    from llm_engineering.model.finetuning.dpo import DPORunConfig, run_dpo
    from llm_engineering.model.finetuning.lora import LoraSettings

    config = DPORunConfig(
        max_steps=3,
        learning_rate=5e-5,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        warmup_steps=0,
        max_length=128,
        max_eval_samples=2,
        lora=LoraSettings(r=8, alpha=16),
    )
    data = DatasetDict({"train": preference(8), "test": preference(2)})
    result = run_dpo(data, config, model_id=sft_result.model_dir, output_dir=run_root / "dpo", device="cpu")
    curve = result.metrics["loss_curve"]
    assert len(curve) == 3
    assert all("rewards/margins" in point and "rewards/chosen" in point for point in curve)
    assert curve[-1]["rewards/margins"] > curve[0]["rewards/margins"]  # chosen pulls away from rejected
    assert "eval_rewards/margins" in result.metrics["eval_rewards"]
    assert result.base_model_dir == sft_result.model_dir


def test_published_version_is_what_latest_loads(sft_result, run_root):
    from llm_engineering.model.finetuning.twin import TrainingConfig, publish
    from llm_engineering.model.loading import load_causal_lm, resolve_model_dir

    config = TrainingConfig(run_name="unit", keep_run_dir=True)
    version = publish([sft_result], config)
    assert resolve_model_dir("latest") == version.model_dir
    assert (version.adapter_dir / "sft" / "adapter_config.json").is_file()
    assert version.metrics["sft"]["eval_loss"] == sft_result.metrics["eval_loss"]
    model, tokenizer = load_causal_lm("latest", device="cpu")
    assert model.device.type == "cpu" and model.dtype == torch.float32 and tokenizer.chat_template


def test_render_chat_refuses_malformed_messages(sft_result):
    from llm_engineering.model.chat import render_chat
    from llm_engineering.model.loading import load_tokenizer

    tokenizer = load_tokenizer(sft_result.model_dir)
    with pytest.raises(ValueError, match="role"):
        render_chat(tokenizer, [{"role": "wizard", "content": "hi"}])
    with pytest.raises(ValueError, match="no chat messages"):
        render_chat(tokenizer, [])
    with pytest.raises(ValueError, match="'role' and 'content'"):
        render_chat(tokenizer, [{"text": "hi"}])


def test_packed_sft_lowers_the_loss_step_after_step(model_cache, run_root, instruct_data):
    from llm_engineering.model.finetuning.sft import run_sft

    config = small_sft_config(
        max_steps=8, packing=True, per_device_train_batch_size=2, max_length=160, save_steps=100, time_budget_s=300
    )
    result = run_sft(instruct_data, config, output_dir=run_root / "packed", device="cpu")
    metrics = result.metrics
    # 16 examples of ~45 tokens share rows of 160 tokens: far fewer rows than examples, no padding
    assert metrics["train_rows"] <= 8 and metrics["train_samples"] == 16
    curve = [point["loss"] for point in metrics["loss_curve"]]
    assert len(curve) == 8
    halves = sum(curve[:4]) / 4, sum(curve[4:]) / 4
    assert halves[1] < halves[0] - 0.2, curve  # falls on average, not only at one lucky step
    assert metrics["eval_loss"] < metrics["eval_loss_before"] - 0.1
    rates = [point["learning_rate"] for point in metrics["loss_curve"]]
    assert rates[0] == pytest.approx(config.learning_rate)  # learning starts at the first step


def test_time_budget_stops_a_long_run_on_time(model_cache, run_root, instruct_data):
    from llm_engineering.model.finetuning.sft import run_sft

    config = small_sft_config(max_steps=-1, num_train_epochs=100, time_budget_s=6, eval_before_training=False)
    result = run_sft(instruct_data, config, output_dir=run_root / "budget", device="cpu")
    metrics = result.metrics
    allowed = 100 * 4  # 100 epochs of 16 examples, 4 per step
    assert 1 <= metrics["global_step"] < allowed
    assert metrics["planned_steps"] is None or metrics["planned_steps"] < allowed
    # stops within about one step of the budget (the step under way finishes)
    step = metrics["seconds_per_step"] or metrics["train_runtime_s"] / metrics["global_step"]
    assert metrics["train_runtime_s"] <= 6 + 2 * step + 2


def test_a_dataset_smaller_than_one_batch_trains_and_says_so(model_cache, run_root):
    from loguru import logger

    from llm_engineering.model.finetuning.sft import run_sft

    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    try:
        data = DatasetDict({"train": instruct(1)})
        result = run_sft(data, small_sft_config(max_steps=2), output_dir=run_root / "tiny", device="cpu")
    finally:
        logger.remove(sink)
    assert result.metrics["global_step"] == 2 and (result.model_dir / "model.safetensors").is_file()
    assert any("1 training row(s), fewer than one batch (4 per step)" in m for m in messages)


@pytest.mark.parametrize("cpu_bf16", [True, False])
def test_cpu_bf16_runs_the_decoder_of_every_training_step_in_bf16(model_cache, run_root, instruct_data, cpu_bf16):
    """With ``cpu_bf16`` the model's matrix products run in bf16 in the training steps themselves
    (after the evaluation before training, as in the shipped config); without it, in fp32."""
    from llm_engineering.model.finetuning.lora import LoraSettings
    from llm_engineering.model.finetuning.sft import run_sft

    seen: set[torch.dtype] = set()

    def record(module, args, output):
        if isinstance(module, torch.nn.Linear) and torch.is_grad_enabled():
            seen.add(output.dtype)

    config = small_sft_config(
        max_steps=2,
        packing=True,
        max_length=96,
        save_steps=100,
        eval_before_training=True,
        lora=LoraSettings(enabled=False),
        cpu_bf16=cpu_bf16,
    )
    hook = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        result = run_sft(instruct_data, config, output_dir=run_root / f"bf16-{cpu_bf16}", device="cpu")
    finally:
        hook.remove()
    assert seen == ({torch.bfloat16} if cpu_bf16 else {torch.float32})
    assert result.metrics["global_step"] == 2
