#!/usr/bin/env bash
# Decode speed on a CUDA machine, in under 8 minutes: jfhub's batched loop (dynamic and static
# KV cache), positive-only generate() and the naive two-pass mix on LLaVA-1.5-7B and
# Qwen2.5-VL-7B built from their real configs with RANDOM weights (nothing is downloaded), at a
# GPU-sized batch (8 samples x 3 rows, 64 tokens, bfloat16), each step against the memory-
# bandwidth floor; then benchmarks/cost.py if it exists.
#
#   bash benchmarks/gpu_check.sh              # bandwidth looked up from the GPU's name
#   BANDWIDTH_GBS=3350 bash benchmarks/gpu_check.sh
#   PYTHON=/path/to/python SAMPLES=16 TOKENS=128 bash benchmarks/gpu_check.sh
#
# Needs a Python with jfhub installed and a CUDA build of torch ($PYTHON, default python).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
SAMPLES=${SAMPLES:-8}
BATCH=${BATCH:-8}
TOKENS=${TOKENS:-64}
REPEATS=${REPEATS:-3}

nvidia-smi --query-gpu=name,memory.total --format=csv
name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)

# Peak memory bandwidth (GB/s) from the data sheets; BANDWIDTH_GBS overrides, an unknown GPU
# runs without a floor.
if [[ -n "${BANDWIDTH_GBS:-}" ]]; then
  bw=$BANDWIDTH_GBS; from="BANDWIDTH_GBS"
else
  from="data sheet of $name"
  case "$name" in
    *GH200*) bw=4000 ;;           # 96 GB HBM3 (the 144 GB HBM3e one: 4900)
    *H200*) bw=4800 ;;
    *H100*NVL*) bw=3900 ;;
    *H100*PCIe*) bw=2000 ;;
    *H100*) bw=3350 ;;            # SXM (NVIDIA H100 80GB HBM3)
    *A100*80GB*PCIe*) bw=1935 ;;
    *A100*80GB*) bw=2039 ;;       # SXM4-80GB
    *A100*) bw=1555 ;;            # 40GB, SXM4 or PCIe
    *L40S*|*L40*) bw=864 ;;
    *A10G*|*A10) bw=600 ;;
    *L4) bw=300 ;;
    *RTX\ 4090*) bw=1008 ;;
    *V100*) bw=900 ;;
    *T4) bw=320 ;;
    *) bw=""; from="unknown GPU: set BANDWIDTH_GBS for a floor" ;;
  esac
fi
echo "memory bandwidth: ${bw:-none} GB/s (${from})"

for config in benchmarks/configs/llava-1.5-7b.json benchmarks/configs/qwen2.5-vl-7b.json; do
  echo
  echo "== $config"
  timeout 190 "$PY" benchmarks/decode.py --config "$config" --device cuda --dtype bfloat16 \
    --samples "$SAMPLES" --batch "$BATCH" --tokens "$TOKENS" --repeats "$REPEATS" ${bw:+--bandwidth "$bw"}
done

if [[ -f benchmarks/cost.py ]]; then
  echo
  echo "== benchmarks/cost.py"
  timeout 60 "$PY" benchmarks/cost.py
fi
