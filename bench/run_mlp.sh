#!/usr/bin/env bash
# MLP benchmark: PyTorch vs Kiln, same data, same model, same machine, same run.
#
#   bash bench/run_mlp.sh
#
# Creates bench/.venv (git-ignored) with torch and numpy from PyPI if missing,
# builds the Kiln benchmark binary, then runs the pair of measurements
# KILN_BENCH_RUNS times (default 3) alternating torch, kiln, torch, kiln, ...
# and writes the median of each metric per framework into BENCHMARKS.md
# (section between <!-- mlp:start --> and <!-- mlp:end -->).
#
# Environment:
#   KILN_BENCH_SKIP_KILN=1   run only the PyTorch side (Kiln shows as n/a)
#   KILN_BENCH_RUNS=N        number of alternating runs (default 3)
#   PYTHON=python3           interpreter used to create the venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/venv.sh
source bench/venv.sh

RUNS="${KILN_BENCH_RUNS:-3}"
SKIP_KILN="${KILN_BENCH_SKIP_KILN:-0}"

if ! [[ "$RUNS" =~ ^[1-9][0-9]*$ ]]; then
    echo "KILN_BENCH_RUNS must be a positive integer, got '$RUNS'" >&2
    exit 2
fi

# --- PyTorch environment -----------------------------------------------------
ensure_venv "installing torch and numpy into $VENV (large download the first time)" torch numpy

# --- Kiln binary -------------------------------------------------------------
if [[ "$SKIP_KILN" != "1" ]]; then
    echo ">> building kiln-bench (release)" >&2
    cargo build --release -p kiln-bench >&2
fi

# --- measurements ------------------------------------------------------------
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# Runs a command, keeps its stdout (must end with one JSON object line) and
# appends that line to $RESULTS; its stderr goes to ours.
measure() {
    local label="$1"
    shift
    local out="$WORK/$label.out"
    "$@" >"$out"
    local line
    line="$(grep -E '^[[:space:]]*\{' "$out" | tail -n 1 || true)"
    if [[ -z "$line" ]]; then
        echo "!! $label printed no JSON object on stdout; its stdout was:" >&2
        cat "$out" >&2
        exit 1
    fi
    echo ">> $label: $line" >&2
    printf '%s\n' "$line" >>"$RESULTS"
}

for ((i = 1; i <= RUNS; i++)); do
    echo ">> run $i/$RUNS: pytorch" >&2
    measure "torch-$i" "$PY" bench/mlp_torch.py
    if [[ "$SKIP_KILN" != "1" ]]; then
        echo ">> run $i/$RUNS: kiln" >&2
        measure "kiln-$i" cargo run --release -p kiln-bench -- mlp
    fi
done

# --- report ------------------------------------------------------------------
REPORT_ARGS=()
RUSTC_VERSION="n/a"
if [[ "$SKIP_KILN" == "1" ]]; then
    REPORT_ARGS+=(--skip-kiln)
fi
if [[ "$SKIP_KILN" != "1" ]] && command -v rustc >/dev/null 2>&1; then
    RUSTC_VERSION="$(rustc --version)"
fi

"$PY" bench/report_mlp.py \
    --results "$RESULTS" \
    --output BENCHMARKS.md \
    --runs "$RUNS" \
    --nproc "$(nproc)" \
    --uname "$(uname -sr)" \
    --rustc "$RUSTC_VERSION" \
    --command "bash bench/run_mlp.sh" \
    "${REPORT_ARGS[@]}"
