#!/usr/bin/env bash
# Accuracy benchmark: Kiln's zero-config model vs scikit-learn's MLP and
# HistGradientBoosting, on the same train/test splits of small public tables.
#
#   bash bench/accuracy.sh [DATASETS_DIR]
#
# DATASETS_DIR defaults to ../shared/datasets (relative to the repository
# root). Creates bench/.venv (git-ignored) with scikit-learn and pandas from
# PyPI if missing, builds the kiln CLI (release), then for every data set and
# every seed 0..4:
#   1. bench/accuracy_sklearn.py split: sklearn train_test_split(test_size=0.2,
#      random_state=seed), stratified for classification, plain for
#      regression; writes train.csv and test.csv (original header and cells).
#   2. kiln train train.csv --target T --config CFG --seed seed --json, where
#      CFG sets only [data] test_fraction = 0.0, valid_fraction = 0.2 (Kiln
#      trains on all of train.csv, keeping 20% of it for early stopping),
#      timed wall clock; then kiln evaluate MODEL test.csv --json.
#   3. bench/accuracy_sklearn.py fit: StandardScaler + MLPClassifier/Regressor
#      (random_state=seed, max_iter=2000) and HistGradientBoostingClassifier/
#      Regressor(random_state=seed) on train.csv, scored on test.csv.
# Scores: accuracy for classification, RMSE for regression. The raw per-run
# results (JSON lines) stay in a temporary folder whose path is printed at
# the end; bench/report_accuracy.py writes the summary into BENCHMARKS.md
# (section between <!-- accuracy:start --> and <!-- accuracy:end -->).
#
# Environment:
#   KILN_ACC_SEEDS=N        number of seeds, 0..N-1 (default 5)
#   KILN_ACC_ONLY=a,b       only these data sets (file names without .csv)
#   KILN_ACC_NO_REPORT=1    do not touch BENCHMARKS.md (just collect results)
#   PYTHON=python3          interpreter used to create the venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The data folder: an argument is relative to the caller's folder, the
# default to the repository root.
COMMAND="bash bench/accuracy.sh"
if [[ $# -ge 1 ]]; then
    COMMAND+=" $1"
    DATA_DIR="$(cd "$1" && pwd)"
else
    DATA_DIR="$(cd "$ROOT/../shared/datasets" && pwd)"
fi
cd "$ROOT"
# shellcheck source=bench/venv.sh
source bench/venv.sh

KILN="$ROOT/target/release/kiln"
SEEDS="${KILN_ACC_SEEDS:-5}"
ONLY="${KILN_ACC_ONLY:-}"

# Non-default settings become part of the command shown in the report.
if [[ -n "$ONLY" ]]; then COMMAND="KILN_ACC_ONLY=$ONLY $COMMAND"; fi
if [[ "$SEEDS" != "5" ]]; then COMMAND="KILN_ACC_SEEDS=$SEEDS $COMMAND"; fi

if ! [[ "$SEEDS" =~ ^[1-9][0-9]*$ ]]; then
    echo "KILN_ACC_SEEDS must be a positive integer, got '$SEEDS'" >&2
    exit 2
fi

# file  target  task (classification | regression)
DATASETS=(
    "breast_cancer.csv diagnosis classification"
    "wine.csv cultivar classification"
    "iris.csv species classification"
    "digits.csv digit classification"
    "winequality-red.csv quality regression"
)

# --- Python environment ------------------------------------------------------
ensure_venv "installing scikit-learn and pandas into $VENV" scikit-learn=sklearn pandas numpy

# --- Kiln binary -------------------------------------------------------------
echo ">> building kiln (release)" >&2
cargo build --release -p kiln-cli >&2

# --- measurements ------------------------------------------------------------
WORK="$(mktemp -d -t kiln-accuracy.XXXXXX)"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
echo ">> working folder (kept; raw results in $RESULTS): $WORK" >&2

CFG="$WORK/kiln.toml"
cat >"$CFG" <<'EOF'
# Zero-config Kiln, except: no internal test split (the benchmark's own test
# split is held out), 20% of the training file kept for early stopping.
[data]
test_fraction = 0.0
valid_fraction = 0.2
EOF

FAILURES=0
for entry in "${DATASETS[@]}"; do
    read -r file target task <<<"$entry"
    name="${file%.csv}"
    if [[ -n "$ONLY" && ",$ONLY," != *",$name,"* ]]; then
        continue
    fi
    data="$DATA_DIR/$file"
    if [[ ! -f "$data" ]]; then
        echo "!! $data is missing" >&2
        exit 1
    fi
    for ((seed = 0; seed < SEEDS; seed++)); do
        run="$WORK/$name-$seed"
        mkdir -p "$run"
        "$PY" bench/accuracy_sklearn.py split --data "$data" --target "$target" \
            --task "$task" --seed "$seed" --out "$run" >"$run/split.json"
        echo ">> $name seed $seed: $(cat "$run/split.json")" >&2

        # Kiln: train (timed), then evaluate on the held-out test.csv.
        train_rc=0
        eval_rc=0
        start="$EPOCHREALTIME"
        "$KILN" train "$run/train.csv" --target "$target" --config "$CFG" --seed "$seed" \
            --out "$run/model.kiln" --report "$run/model.report.html" --json \
            >"$run/kiln-train.json" 2>"$run/kiln-train.err" || train_rc=$?
        end="$EPOCHREALTIME"
        if [[ "$train_rc" == 0 ]]; then
            "$KILN" evaluate "$run/model.kiln" "$run/test.csv" --json \
                >"$run/kiln-eval.json" 2>"$run/kiln-eval.err" || eval_rc=$?
        fi
        line="$("$PY" bench/report_accuracy.py kiln-result \
            --dataset "$name" --seed "$seed" --task "$task" \
            --split "$run/split.json" \
            --train-json "$run/kiln-train.json" --train-stderr "$run/kiln-train.err" \
            --train-rc "$train_rc" \
            --eval-json "$run/kiln-eval.json" --eval-stderr "$run/kiln-eval.err" \
            --eval-rc "$eval_rc" \
            --start "$start" --end "$end")"
        echo ">>   kiln: $line" >&2
        printf '%s\n' "$line" >>"$RESULTS"
        if [[ "$line" == *'"error"'* ]]; then
            FAILURES=$((FAILURES + 1))
        fi

        # scikit-learn: MLP and HistGradientBoosting on the same files.
        "$PY" bench/accuracy_sklearn.py fit --train "$run/train.csv" --test "$run/test.csv" \
            --target "$target" --task "$task" --seed "$seed" --dataset "$name" \
            >"$run/sklearn.jsonl"
        while IFS= read -r l; do
            echo ">>   sklearn: $l" >&2
        done <"$run/sklearn.jsonl"
        cat "$run/sklearn.jsonl" >>"$RESULTS"

        # Keep logs of failed Kiln runs; drop the bulky files of the others.
        if [[ "$line" != *'"error"'* ]]; then
            rm -rf "$run"
        fi
    done
done

# --- report ------------------------------------------------------------------
if [[ "${KILN_ACC_NO_REPORT:-0}" == "1" ]]; then
    echo ">> KILN_ACC_NO_REPORT=1: BENCHMARKS.md left alone; results in $RESULTS" >&2
else
    VERSIONS="$("$PY" bench/accuracy_sklearn.py versions)"
    "$PY" bench/report_accuracy.py report \
        --results "$RESULTS" \
        --output BENCHMARKS.md \
        --seeds "$SEEDS" \
        --nproc "$(nproc)" \
        --uname "$(uname -sr)" \
        --kiln-version "$("$KILN" --version)" \
        --versions "$VERSIONS" \
        --command "$COMMAND"
fi
echo ">> raw per-run results: $RESULTS" >&2
if [[ "$FAILURES" -gt 0 ]]; then
    echo "!! $FAILURES Kiln run(s) failed; their logs are under $WORK" >&2
fi
