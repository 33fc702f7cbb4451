#!/usr/bin/env bash
# GPU check (CI cannot run it): the smoke space with 4 concurrent trials at 0.25 GPU each.
# train_proxy trains in bf16 autocast and channels-last on CUDA. Prints trials per minute,
# the mean GPU utilisation during the run (nvidia-smi, every 0.5 s) and any trial that failed.
# Usage: bash benchmarks/gpu_smoke.sh [TRIALS]   (from the repository root, project installed)
set -euo pipefail
trials="${1:-16}"
out="$(mktemp -d /tmp/t2ts-gpu-XXXX)"
command -v nvidia-smi >/dev/null || { echo "gpu_smoke: no nvidia-smi: no CUDA GPU here" >&2; exit 2; }
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
  || { echo "gpu_smoke: torch sees no CUDA device" >&2; exit 2; }

nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 500 >"$out/util.txt" &
sampler=$!
trap 'kill $sampler 2>/dev/null || true' EXIT
started=$(date +%s.%N)
status=0
t2tsearch run spaces/smoke.yaml --out "$out" --name gpu --trials "$trials" --concurrency 4 \
  --gpus-per-trial 0.25 --cpus-per-trial 2 --scheduler none || status=$?
ended=$(date +%s.%N)
kill $sampler 2>/dev/null || true

python3 - "$out" "$started" "$ended" "$status" <<'PY'
import sys
import pandas as pd
out, started, ended, status = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
table = pd.read_csv(f"{out}/gpu/trials.csv")
trained = table[table["reused_from"].isna() & ~table["status"].isin(["infeasible", "duplicate"])]
minutes = (ended - started) / 60
util = [float(x) for x in open(f"{out}/util.txt").read().split() if x.strip()]
print(f"trials trained: {len(trained)} in {minutes:.2f} min = {len(trained) / minutes:.1f} trials/min")
print(f"mean GPU utilisation: {sum(util) / max(len(util), 1):.1f}% over {len(util)} samples")
print(f"statuses: {table['status'].value_counts().to_dict()}; run exit status {status}")
failed = table[table["status"].isin(["failed", "oom", "diverged"])]
for _, row in failed.iterrows():
    print(f"FAILED trial {row['trial']}: {row['status']}: {row['reason']}")
if failed.empty:
    print("no trial failed")
PY
