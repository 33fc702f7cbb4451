#!/usr/bin/env bash
# The oldest versions pyproject.toml allows, tested: every package it names (the dependencies and
# the dev extra) pinned at its `>=` lower bound, the project installed beside them in a virtual
# environment of its own, and a fast subset of the tests run there (the private Optuna/Ray APIs,
# every sampler through Ray Tune, the models, costs and report).
#
#   bash benchmarks/oldest_versions.sh [VENV]     # VENV: $T2TS_OLDEST_VENV or /tmp/t2ts-oldest
#
# pyproject.toml is the only source: the constraints are derived from it on every run and written
# into the venv (VENV/oldest-constraints.txt). A venv built from the same constraints is reused;
# one built from others is rebuilt from scratch (about 3 GB to download: torch's CUDA build).
# Packages pyproject does not name float to whatever the pins allow. Exit status: non-zero when
# the install or a test fails. The last line is the result, e.g.
#   oldest versions: 95 passed, 0 failed (2026-12-04)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${1:-${T2TS_OLDEST_VENV:-/tmp/t2ts-oldest}}
TESTS=(
    tests/test_private_apis.py
    "tests/test_search.py::test_every_sampler_runs_a_search_through_ray_tune"
    tests/test_models.py
    tests/test_cost.py
    tests/test_report.py
)
cd "$ROOT"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# name==X for every name>=X in [project].dependencies and the dev extra; extras (ray[tune]) go
# into the install, the pin is on the bare name. A package named there without a `>=` bound is
# an error: its oldest version would be whatever pip finds.
CONSTRAINTS=$(python3 - <<'EOF'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
pins = {}
for req in project["dependencies"] + project["optional-dependencies"]["dev"]:
    m = re.fullmatch(r"\s*([A-Za-z0-9._-]+)\s*(?:\[[^\]]*\])?\s*([^;]*)(;.*)?", req)
    lower = [s.strip()[2:].strip() for s in m.group(2).split(",") if s.strip().startswith(">=")]
    if not lower:
        sys.exit(f"oldest_versions.sh: {req!r} in pyproject.toml has no >= lower bound")
    pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = lower[0]
print("\n".join(f"{name}=={version}" for name, version in sorted(pins.items())))
EOF
)
DATE=$(date +%F)
result() { echo "oldest versions: $1 ($DATE)"; }

PY="$VENV/bin/python"
t0=$SECONDS
if [[ -f "$VENV/.installed" && "$(cat "$VENV/oldest-constraints.txt")" == "$CONSTRAINTS" ]]; then
    echo "== reusing $VENV (built from the same constraints)"
    # The project itself: an editable install, so only its entry points could be stale.
    "$PY" -m pip install -q --no-deps -e . || { result "install failed"; exit 1; }
else
    if [[ -e "$VENV" ]]; then
        # Remove only a venv this script built.
        [[ -f "$VENV/pyvenv.cfg" && -f "$VENV/oldest-constraints.txt" ]] || {
            echo "$VENV exists and is not a venv this script built; pass another path" >&2
            exit 2
        }
        echo "== the constraints changed: rebuilding $VENV"
        rm -rf "$VENV"
    fi
    python3 -m venv "$VENV"
    printf '%s\n' "$CONSTRAINTS" >"$VENV/oldest-constraints.txt"
    echo "== installing into $VENV with the constraints:"
    cat "$VENV/oldest-constraints.txt"
    "$PY" -m pip install -q --upgrade pip || { result "install failed"; exit 1; }
    "$PY" -m pip install -q -c "$VENV/oldest-constraints.txt" -e ".[dev]" || {
        result "install failed"
        exit 1
    }
    touch "$VENV/.installed"
fi
install_s=$((SECONDS - t0))

echo "== installed (pinned names):"
"$PY" - "$VENV/oldest-constraints.txt" <<'EOF'
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    name, pinned = line.strip().split("==")
    print(f"{name:14} {version(name):24} (pinned {pinned})")
EOF

echo "== tests: ${TESTS[*]}"
t1=$SECONDS
LOG="$VENV/oldest-tests.log"
set +e
RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 CI=true \
    "$PY" -m pytest -q -n 0 -p no:cacheprovider "${TESTS[@]}" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
tests_s=$((SECONDS - t1))

summary=$(tail -n 1 "$LOG")
count() { grep -oE "[0-9]+ $1" <<<"$summary" | grep -oE "^[0-9]+" || echo 0; }
passed=$(count passed)
failed=$(($(count failed) + $(count error)))
echo "== install ${install_s} s, tests ${tests_s} s"
if [[ $status -ne 0 && $failed -eq 0 ]]; then
    result "$passed passed, 0 failed, pytest exit status $status"
else
    result "$passed passed, $failed failed"
fi
exit "$status"
