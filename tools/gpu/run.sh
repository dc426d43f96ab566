#!/usr/bin/env bash
# Run the SFT throughput comparison on a GPU machine from what tools/gpu/prepare.sh gathered.
# Results (JSON report, log, profile) go to ${OUT:-tools/gpu/results/latest}. Extra arguments are
# passed to sft_throughput.py (e.g. --sweep 256:2e-3:16 --compile).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-tools/gpu/results/latest}"
mkdir -p "$out"
py="${PYTHON:-$(command -v python3 || command -v python)}"
if ! "$py" -m pip install --disable-pip-version-check -q --no-index --no-deps --target .gpu_run/site \
  --find-links .gpu_run/wheels trl datasets dill multiprocess; then
  echo "pip could not install the wheels: unpacking them instead" >&2
  tag=$("$py" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
  for wheel in .gpu_run/wheels/*-py3-none-any.whl .gpu_run/wheels/*-"$tag"-none-any.whl; do
    "$py" -m zipfile -e "$wheel" .gpu_run/site
  done
fi
# steps change shape with every batch: let the allocator grow segments instead of new blocks
export PYTORCH_CUDA_ALLOC_CONF="${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}"
export PYTHONPATH=".gpu_run/site${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt" || true
"$py" tools/gpu/sft_throughput.py --data .gpu_run/instruct_datasets.json --model-dir .gpu_run/model \
  --out "$out/sft_throughput.json" --profile "$@" 2>&1 | tee "$out/log.txt"
