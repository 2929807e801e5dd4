#!/usr/bin/env bash
# Hyperparameter-search benchmark: Kiln's TPE sampler vs Optuna's TPESampler,
# same test functions, same trial counts, same machine, same run.
#
#   bash bench/tune.sh
#
# 1. Creates bench/.venv-optuna (git-ignored) with optuna<5 from PyPI if
#    missing (its own venv: Optuna brings SQLAlchemy and Alembic, which the
#    other benchmarks' bench/.venv does not need).
# 2. Builds Kiln's side, the kiln-tune example `tune_bench` (release).
# 3. Quality: for each of Branin, Hartmann-6, Rosenbrock-10, Ackley-10 and
#    Styblinski-Tang-10, KILN_BENCH_SEEDS studies (seeds 0..N-1) of 100 trials
#    per tool, minimising the function (Optuna: bench/tune_optuna.py with
#    TPESampler(multivariate=True, seed=SEED); Kiln: TpeSampler::default(),
#    multivariate with the constant liar, which changes nothing when trials
#    run one at a time). Tools alternate function by function.
# 4. Overhead: Ackley-10 studies of 1,000 trials (3 seeds) and 5,000 trials
#    (1 seed) per tool; the 100-trial Ackley-10 studies of step 3 give the
#    100-trial figure. Overhead per trial = (wall time of the study loop −
#    time inside the function) / trials, and the same with CPU time.
#    Steps 3 and 4 below 5,000 trials run KILN_BENCH_ROUNDS times (the studies
#    are seeded, so each round repeats the same studies); the report takes
#    each study's median overhead over the rounds, so that a burst of load
#    from other processes during one short Kiln study does not decide a row.
# 5. bench/report_tune.py writes medians, ratios and the targets' verdicts
#    into BENCHMARKS.md, section between <!-- tune:start --> and
#    <!-- tune:end -->. The raw JSON lines are kept in
#    bench/.data/tune-results.jsonl.
#
# A full Optuna study of 5,000 multivariate-TPE trials took 4 to 6 minutes
# on a 2-CPU machine; the whole benchmark about 10.
#
# Environment:
#   KILN_BENCH_SEEDS=N        quality seeds per function and tool (default 20)
#   KILN_BENCH_ROUNDS=N       rounds of the studies under 5,000 trials (default 3)
#   KILN_BENCH_LARGE="A B"    trial counts of the overhead studies (default
#                             "1000 5000"; below 5,000: seeds 0-2, every
#                             round; from 5,000: seed 0, once)
#   PYTHON=python3            interpreter used to create the venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/venv.sh
source bench/venv.sh

SEEDS="${KILN_BENCH_SEEDS:-20}"
ROUNDS="${KILN_BENCH_ROUNDS:-3}"
LARGE="${KILN_BENCH_LARGE:-1000 5000}"
FUNCTIONS="branin hartmann6 rosenbrock10 ackley10 styblinski_tang10"
OVERHEAD_FUNCTION="ackley10"
KILN="$ROOT/target/release/examples/tune_bench"

if ! [[ "$SEEDS" =~ ^[1-9][0-9]*$ ]]; then
    echo "KILN_BENCH_SEEDS must be a positive integer, got '$SEEDS'" >&2
    exit 2
fi
if ! [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
    echo "KILN_BENCH_ROUNDS must be a positive integer, got '$ROUNDS'" >&2
    exit 2
fi
for n in $LARGE; do
    if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
        echo "KILN_BENCH_LARGE must list positive integers, got '$LARGE'" >&2
        exit 2
    fi
done

# Non-default settings become part of the command shown in the report.
COMMAND="bash bench/tune.sh"
if [[ "$LARGE" != "1000 5000" ]]; then COMMAND="KILN_BENCH_LARGE=\"$LARGE\" $COMMAND"; fi
if [[ "$ROUNDS" != "3" ]]; then COMMAND="KILN_BENCH_ROUNDS=$ROUNDS $COMMAND"; fi
if [[ "$SEEDS" != "20" ]]; then COMMAND="KILN_BENCH_SEEDS=$SEEDS $COMMAND"; fi

# --- Optuna environment --------------------------------------------------------
# ensure_venv works on $VENV / $PY; point them at the Optuna venv.
VENV="bench/.venv-optuna"
PY="$VENV/bin/python"
ensure_venv "installing optuna<5 into $VENV" "optuna<5=optuna"

# --- Kiln binary -----------------------------------------------------------------
echo ">> building kiln-tune's tune_bench example (release)" >&2
cargo build --release -p kiln-tune --example tune_bench >&2

# --- measurements ----------------------------------------------------------------
mkdir -p bench/.data
WORK="$(mktemp -d -t kiln-tune.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"

# Runs a command that prints JSON lines (one per study) and appends them to
# $RESULTS; its stderr goes to ours.
measure() {
    local label="$1"
    shift
    local out="$WORK/${label//[^A-Za-z0-9_.-]/_}.out"
    local start="$SECONDS"
    "$@" >"$out"
    if ! grep -qE '^[[:space:]]*\{' "$out"; then
        echo "!! $label printed no JSON line; its stdout was:" >&2
        cat "$out" >&2
        exit 1
    fi
    grep -E '^[[:space:]]*\{' "$out" >>"$RESULTS"
    echo ">> $label: $(grep -cE '^[[:space:]]*\{' "$out") studies in $((SECONDS - start)) s" >&2
}

SEED_LIST="$(seq 0 $((SEEDS - 1)) | tr '\n' ' ')"
for ((round = 1; round <= ROUNDS; round++)); do
    for f in $FUNCTIONS; do
        # shellcheck disable=SC2086 # the seeds are separate arguments
        measure "round $round: optuna-$f-100" "$PY" bench/tune_optuna.py "$f" 100 $SEED_LIST
        # shellcheck disable=SC2086
        measure "round $round: kiln-$f-100" "$KILN" "$f" 100 $SEED_LIST
    done
    for n in $LARGE; do
        if [[ "$n" -ge 5000 ]]; then continue; fi
        measure "round $round: optuna-$OVERHEAD_FUNCTION-$n" \
            "$PY" bench/tune_optuna.py "$OVERHEAD_FUNCTION" "$n" 0 1 2
        measure "round $round: kiln-$OVERHEAD_FUNCTION-$n" "$KILN" "$OVERHEAD_FUNCTION" "$n" 0 1 2
    done
done
for n in $LARGE; do
    if [[ "$n" -lt 5000 ]]; then continue; fi
    measure "optuna-$OVERHEAD_FUNCTION-$n" "$PY" bench/tune_optuna.py "$OVERHEAD_FUNCTION" "$n" 0
    measure "kiln-$OVERHEAD_FUNCTION-$n" "$KILN" "$OVERHEAD_FUNCTION" "$n" 0
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a)"
cp "$RESULTS" bench/.data/tune-results.jsonl

# --- report ----------------------------------------------------------------------
RUSTC_VERSION="n/a"
if command -v rustc >/dev/null 2>&1; then RUSTC_VERSION="$(rustc --version)"; fi
"$PY" bench/report_tune.py report \
    --results "$RESULTS" \
    --output BENCHMARKS.md \
    --nproc "$(nproc)" \
    --uname "$(uname -sr)" \
    --rustc "$RUSTC_VERSION" \
    --load "before $LOAD_BEFORE, after $LOAD_AFTER" \
    --overhead-function "$OVERHEAD_FUNCTION" \
    --command "$COMMAND"
echo ">> raw per-study results: bench/.data/tune-results.jsonl" >&2
