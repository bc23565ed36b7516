#!/usr/bin/env bash
# Everything the book measures on a GPU, in one bounded run (about 8 minutes on one H100 or H200):
#
#     bash benchmarks/cuda_checks.sh OUT [SWEEP_DIR]        (from the repository root)
#
#   1. the CUDA tests (pytest -m cuda);
#   2. the GPU data path at ImageNet scale (benchmarks/gpu_data_path.py --write) and the parts of
#      SeiT++'s batch transform (benchmarks/policy_profile.py --write);
#   3. tokenizing with the reference tokenizer on the GPU (python -m seitpp tokenize prints images/s);
#   4. chapter 9's reproduction at GPU size (python -m seitpp reproduce --preset gpu), resumable:
#      a second call continues where the first stopped;
#   5. training throughput of the token and pixel ViTs (benchmarks/training_throughput.py --write).
#
# Each stage has a time limit, so one slow stage cannot take the others' time: the sweep gets what
# the whole run's budget (TOTAL_SECONDS, default 540) leaves after the other stages. Logs,
# BENCHMARKS.md and the sweep's results (without checkpoints) are copied to OUT.
set -u
out=${1:?usage: bash benchmarks/cuda_checks.sh OUT [SWEEP_DIR]}
sweep=${2:-$out/reproduce-gpu}
mkdir -p "$out" "$sweep"
export PYTHONUNBUFFERED=1
py=${PYTHON:-python}

stage() {  # stage NAME SECONDS COMMAND...: run with a limit, log to OUT/NAME.log, never stop the script
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
    timeout --signal=INT --kill-after=20 "$limit" "$@" > "$out/$name.log" 2>&1
    echo "== $name: exit $? at $(date -u +%H:%M:%S)"
    tail -n 25 "$out/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$py" -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__, torch.cuda.get_device_name())"
total=${TOTAL_SECONDS:-540}
stage cuda_tests 100 "$py" -m pytest -q -m cuda -p no:cacheprovider tests/test_augment.py tests/test_tokenizer.py tests/test_device.py \
    tests/test_launch.py tests/test_segment.py
stage gpu_data_path 120 "$py" -m benchmarks.gpu_data_path --seconds 2 --write
stage policy_profile 40 "$py" -m benchmarks.policy_profile --device cuda --write
stage tokenize 60 "$py" -m seitpp tokenize --source shapes --num-images 10000 --out "$out/shapes.tokens" \
    --device cuda --batch-size 1024
stage reproduce_gpu $((total - SECONDS - 100)) "$py" -m seitpp reproduce --preset gpu --out "$sweep"
stage training_throughput 80 "$py" -m benchmarks.training_throughput --device cuda --sizes small,base --seconds 1 --write

cp BENCHMARKS.md benchmarks/results/gpu_data_path.csv benchmarks/results/policy_profile.csv "$out/"
tar -czf "$out/reproduce-gpu.tgz" -C "$sweep" --exclude='*.pt' --exclude='data.npz' --exclude='*.tokens' .
