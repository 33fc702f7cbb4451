#!/usr/bin/env bash
# GPU smoke test: the one prepared check to run where a CUDA GPU is at hand (CI has none).
#
# Two short searches on Ray, four trials at once at 0.25 GPU each:
#   A. mnist5k in memory, `augment: shift` (crops drawn for an epoch, applied on the GPU), with a
#      latency objective (each trial measures its inference latency on its GPU), TRIALS trials;
#   B. the same digits written as an image folder (`imagefolder`: read by DataLoader workers,
#      cpus_per_trial of them per trial, kept between epochs), 4 trials.
# It fails (exit 1) unless every trained trial of both completed on a CUDA device, as each trial
# records (trials.csv `device`). It prints trials per minute, each GPU's utilisation (nvidia-smi
# per index, every 0.5 s) and every trial that did not complete. The whole check is bounded by
# SMOKE_TIMEOUT seconds (default 900); a run cut off by it fails the check.
# On a machine without a CUDA GPU it says so and exits 0: there is nothing to check there.
#
# Usage: bash benchmarks/gpu_smoke.sh [TRIALS]   (from the repository root, project installed)
set -uo pipefail
trials="${1:-16}"
limit="${SMOKE_TIMEOUT:-900}"
ended_by=$(( $(date +%s) + limit ))

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_smoke: no CUDA GPU here (nvidia-smi finds none): nothing to check, exit 0"
  exit 0
fi
if ! python3 -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  # A GPU the installed torch cannot use is exactly what this check is for: a failure.
  echo "gpu_smoke: FAIL: nvidia-smi lists a GPU, but torch $(python3 -c 'import torch; print(torch.__version__)') sees no CUDA device" >&2
  exit 1
fi

out="$(mktemp -d /tmp/t2ts-gpu-XXXX)"
echo "gpu_smoke: runs under $out, at most ${limit}s in all"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader

# The two spaces: the smoke space changed as above (written next to the runs).
python3 - "$out" "$trials" <<'PY'
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from t2tsearch.engine.data import load_data

out, trials = Path(sys.argv[1]), int(sys.argv[2])
smoke = yaml.safe_load(Path("spaces/smoke.yaml").read_text())
smoke["search"].update({"trials": trials, "concurrency": 4, "cpus_per_trial": 1,
                        "gpus_per_trial": 0.25, "sampler": "nsga2", "scheduler": "none"})
memory = {**smoke, "name": "gpu_memory",
          "objectives": [{"metric": "accuracy", "direction": "maximize"},
                         {"metric": "latency", "direction": "minimize"}],
          "train": {**smoke["train"], "epochs": 3, "augment": "shift", "measure_latency": True}}
(out / "memory.yaml").write_text(yaml.safe_dump(memory, sort_keys=False))

# The digits as PNG files in torchvision's ImageFolder layout (RGB, as ImageFolder reads them).
data = load_data("mnist5k", 28, train_limit=1000, val_limit=300)
for split, part in (("train", data.train), ("val", data.val)):
    for index, (image, label) in enumerate(zip(part.images, part.labels, strict=True)):
        folder = out / "digits" / split / f"digit_{int(label)}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.repeat(image.numpy()[0][:, :, None], 3, axis=2)
        Image.fromarray(pixels).save(folder / f"{index}.png")
folder = {**smoke, "name": "gpu_folder",
          "base": {**smoke["base"], "in_chans": 3, "num_classes": 10},
          "train": {**smoke["train"], "dataset": "imagefolder", "data_dir": str(out / "digits"),
                    "epochs": 2},
          "search": {**smoke["search"], "trials": 4, "cpus_per_trial": 2, "sampler": "random"}}
(out / "folder.yaml").write_text(yaml.safe_dump(folder, sort_keys=False))
PY
[ $? -eq 0 ] || { echo "gpu_smoke: FAIL: could not write the spaces" >&2; exit 1; }

nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader,nounits \
  -lms 500 >"$out/util.csv" &
sampler=$!
trap 'kill $sampler 2>/dev/null || true' EXIT

status=0
for name in memory folder; do
  left=$(( ended_by - $(date +%s) ))
  if [ "$left" -le 0 ]; then echo "gpu_smoke: FAIL: out of time before run $name" >&2; status=1; break; fi
  start=$(date +%s.%N)
  timeout --signal=INT --kill-after=30 "$left" \
    t2tsearch run "$out/$name.yaml" --out "$out" --name "$name"
  code=$?
  end=$(date +%s.%N)
  echo "$name $start $end $code" >>"$out/timing.txt"
  # 124/130 (cut off by the time limit), 2 (a user error): the run is a failure here; 64 + N
  # (N trials failed) is judged from trials.csv below, with the trials' reasons.
  if [ "$code" -ne 0 ] && [ "$code" -lt 64 ]; then
    echo "gpu_smoke: FAIL: run $name ended with exit status $code" >&2; status=1
  fi
done
kill $sampler 2>/dev/null || true

python3 - "$out" <<'PY' || status=1
import sys
from pathlib import Path

import pandas as pd

out = Path(sys.argv[1])
ok = True
for line in (out / "timing.txt").read_text().splitlines():
    name, start, end, code = line.split()
    csv = out / name / "trials.csv"
    if not csv.is_file():
        print(f"FAIL {name}: no trials.csv (exit status {code})")
        ok = False
        continue
    table = pd.read_csv(csv)
    trained = table[table["reused_from"].isna()
                    & ~table["status"].isin(["infeasible", "duplicate", "quota"])]
    minutes = (float(end) - float(start)) / 60
    devices = trained["device"].fillna("(none)") if "device" in trained else pd.Series(
        ["(none)"] * len(trained))
    print(f"{name}: {len(trained)} trials trained in {minutes:.2f} min = "
          f"{len(trained) / minutes:.1f} trials/min; statuses "
          f"{trained['status'].value_counts().to_dict()}; devices {devices.value_counts().to_dict()}")
    if "latency_ms" in trained and name == "memory":
        measured = trained["latency_ms"].notna().sum()
        print(f"  latency measured on {measured} of {len(trained)} trials")
        ok &= bool(measured == (trained["status"] == "complete").sum())
    for _, row in trained.iterrows():
        on_cuda = str(row.get("device", "")).startswith("cuda")
        if row["status"] != "complete" or not on_cuda:
            print(f"  FAIL trial {row['trial']}: {row['status']} on {row.get('device')}: "
                  f"{row['reason']}")
            ok = False
    if trained.empty:
        print(f"  FAIL {name}: no trial was trained")
        ok = False

util = pd.read_csv(out / "util.csv", header=None, names=["gpu", "util", "memory"])
for gpu, rows in util.groupby("gpu"):
    print(f"GPU {gpu}: utilisation mean {rows['util'].mean():.0f}%, max {rows['util'].max():.0f}%"
          f", memory max {rows['memory'].max():.0f} MiB over {len(rows)} samples")
print("gpu_smoke: PASS: every trial completed on a CUDA device" if ok else "gpu_smoke: FAIL")
sys.exit(0 if ok else 1)
PY
exit $status
