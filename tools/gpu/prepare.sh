#!/usr/bin/env bash
# Gather what tools/gpu/sft_throughput.py needs on a GPU machine that has torch and transformers
# but not the project's environment, into .gpu_run/ (git-ignored, about 7 MB):
#   wheels/  trl, datasets, dill and multiprocess at the versions of requirements.lock (no deps)
#   model/   the base model's config and tokenizer (no weights: runs start from a random init)
#   instruct_datasets.json  the instruct dataset to train on (default: the handbook's)
# Usage: tools/gpu/prepare.sh [path/to/instruct_datasets.json]
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-../shared/corpora/llm-engineers-handbook/instruct_datasets.json}"
[ -f "$data" ] || { echo "no dataset at $data" >&2; exit 1; }
[ -x .venv/bin/python ] || { echo "run scripts/install.sh first" >&2; exit 1; }
out=.gpu_run
rm -rf "$out" && mkdir -p "$out/wheels" "$out/model"
pins=()
for name in trl datasets dill multiprocess; do
  pin=$(grep -iE "^${name}==" requirements.lock || true)
  pins+=("${pin:-$name}")
done
# multiprocess ships one wheel per Python version: take those of the versions a GPU image may have
for v in 3.11 3.12 3.13 3.14; do
  .venv/bin/python -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
    --python-version "$v" -d "$out/wheels" "${pins[@]}" 2>&1 | grep -v "is ignored: it is neither" || true
done
model_dir=$(.venv/bin/python -c "from llm_engineering.model.loading import base_model_dir; print(base_model_dir())")
for f in config.json generation_config.json tokenizer.json tokenizer_config.json chat_template.jinja; do
  [ -f "$model_dir/$f" ] && cp "$model_dir/$f" "$out/model/"
done
cp "$data" "$out/instruct_datasets.json"
du -sh "$out"; ls "$out/wheels"
