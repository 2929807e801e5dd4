#!/usr/bin/env bash
# CNN training-speed benchmark: PyTorch vs Kiln on Fashion-MNIST images, same models, same
# data, same training setup, same machine, same run.
#
#   bash bench/cnn.sh
#
# Creates bench/.venv (git-ignored) with torch and numpy from PyPI if missing, builds the
# kiln CLI and kiln-bench (release; its binary kiln-cnn is Kiln's side), reads the shape of
# Kiln's default image network from the `[image]` section of `kiln config`, then for each of
# the two models
#   reference  the "2-conv CNN" (Conv 32, Conv 64, max pool, Linear 128, Linear 10)
#   kiln       Kiln's own CNN (kiln_model::ConvShape::default()), rebuilt layer for layer
#              in PyTorch from the `[image]` section
# runs the pair of measurements KILN_BENCH_RUNS times (default 3) alternating
# pytorch, kiln, pytorch, kiln, ... (bench/cnn_torch.py and target/release/kiln-cnn, each
# on the first KILN_BENCH_CNN_ROWS training images: 1 warm-up epoch, then
# KILN_BENCH_CNN_EPOCHS timed epochs, batch 128, Adam lr 1e-3; then inference) and writes
# the medians into BENCHMARKS.md (section between <!-- cnn:start --> and <!-- cnn:end -->).
# PyTorch runs with 2 threads; Kiln with RAYON_NUM_THREADS=2 (its backend's thread pool).
#
# Environment:
#   KILN_FASHION_MNIST=DIR   folder with train-images-idx3-ubyte.gz and
#                            train-labels-idx1-ubyte.gz (default ../shared/datasets/fashion-mnist,
#                            relative to the repository root)
#   KILN_BENCH_RUNS=N        number of alternating runs per model (default 3)
#   KILN_BENCH_CNN_ROWS=N    training images used (default 10000)
#   KILN_BENCH_CNN_EPOCHS=N  timed epochs per run (default 2)
#   KILN_BENCH_SKIP_KILN=1   run only the PyTorch side (Kiln shows as n/a)
#   PYTHON=python3           interpreter used to create the venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/venv.sh
source bench/venv.sh

RUNS="${KILN_BENCH_RUNS:-3}"
ROWS="${KILN_BENCH_CNN_ROWS:-10000}"
EPOCHS="${KILN_BENCH_CNN_EPOCHS:-2}"
SKIP_KILN="${KILN_BENCH_SKIP_KILN:-0}"
DATA="${KILN_FASHION_MNIST:-../shared/datasets/fashion-mnist}"
KILN="$ROOT/target/release/kiln"
KCNN="$ROOT/target/release/kiln-cnn"
MODELS=(reference kiln)

require_positive_int KILN_BENCH_RUNS "$RUNS"
require_positive_int KILN_BENCH_CNN_ROWS "$ROWS"
require_positive_int KILN_BENCH_CNN_EPOCHS "$EPOCHS"

if [[ ! -d "$DATA" ]] ||
    ! compgen -G "$DATA/train-images-idx3-ubyte*" >/dev/null ||
    ! compgen -G "$DATA/train-labels-idx1-ubyte*" >/dev/null; then
    echo "bench/cnn.sh: no Fashion-MNIST training files in '$DATA'" >&2
    echo "  (expected train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz there;" >&2
    echo "   set KILN_FASHION_MNIST to the folder that holds them)" >&2
    exit 1
fi
DATA="$(cd "$DATA" && pwd)"

# Non-default settings become part of the command shown in the report.
COMMAND="bash bench/cnn.sh"
if [[ -n "${KILN_FASHION_MNIST:-}" ]]; then COMMAND="KILN_FASHION_MNIST=$KILN_FASHION_MNIST $COMMAND"; fi
if [[ "$SKIP_KILN" == "1" ]]; then COMMAND="KILN_BENCH_SKIP_KILN=1 $COMMAND"; fi
if [[ "$EPOCHS" != "2" ]]; then COMMAND="KILN_BENCH_CNN_EPOCHS=$EPOCHS $COMMAND"; fi
if [[ "$ROWS" != "10000" ]]; then COMMAND="KILN_BENCH_CNN_ROWS=$ROWS $COMMAND"; fi
if [[ "$RUNS" != "3" ]]; then COMMAND="KILN_BENCH_RUNS=$RUNS $COMMAND"; fi

# --- PyTorch environment -----------------------------------------------------
ensure_venv "installing torch and numpy into $VENV (large download the first time)" torch numpy

# --- Kiln binaries -----------------------------------------------------------
# The kiln CLI is needed in any case: its `kiln config` gives Kiln's default CNN shape.
if [[ "$SKIP_KILN" != "1" ]]; then
    echo ">> building kiln and kiln-bench (release)" >&2
    cargo build --release -p kiln-cli -p kiln-bench >&2
else
    echo ">> building kiln (release)" >&2
    cargo build --release -p kiln-cli >&2
fi

# Kiln's default image network: the [image] section of `kiln config`.
SHAPE="$("$KILN" config | "$PY" -c '
import sys, tomllib
image = tomllib.loads(sys.stdin.read())["image"]
print(",".join(str(int(s)) for s in image["stages"]), int(image["convs_per_stage"]),
      int(image["hidden"]), float(image["dropout"]))
')"
read -r STAGES CONVS HIDDEN DROPOUT <<<"$SHAPE"
echo ">> Kiln's default CNN: stages $STAGES, $CONVS convolutions per stage, hidden $HIDDEN, dropout $DROPOUT" >&2
KILN_ARCH=(--stages "$STAGES" --convs-per-stage "$CONVS" --hidden "$HIDDEN" --dropout "$DROPOUT")

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

for model in "${MODELS[@]}"; do
    arch=()
    if [[ "$model" == "kiln" ]]; then
        arch=("${KILN_ARCH[@]}")
    fi
    for ((i = 1; i <= RUNS; i++)); do
        echo ">> $model model, run $i/$RUNS: pytorch" >&2
        measure "torch-$model-$i" "$PY" bench/cnn_torch.py --data "$DATA" --model "$model" \
            --rows "$ROWS" --epochs "$EPOCHS" "${arch[@]}"
        if [[ "$SKIP_KILN" != "1" ]]; then
            echo ">> $model model, run $i/$RUNS: kiln" >&2
            measure "kiln-$model-$i" env RAYON_NUM_THREADS=2 "$KCNN" --data "$DATA" \
                --model "$model" --rows "$ROWS" --epochs "$EPOCHS"
        fi
    done
done

# --- report ------------------------------------------------------------------
REPORT_ARGS=()
RUSTC_VERSION="n/a"
if [[ "$SKIP_KILN" == "1" ]]; then
    REPORT_ARGS+=(--skip-kiln)
else
    RUSTC_VERSION="$(rustc_version)"
fi

"$PY" bench/report_cnn.py \
    --results "$RESULTS" \
    --output BENCHMARKS.md \
    --runs "$RUNS" \
    --nproc "$(nproc)" \
    --uname "$(uname -sr)" \
    --rustc "$RUSTC_VERSION" \
    --command "$COMMAND" \
    "${REPORT_ARGS[@]}"
