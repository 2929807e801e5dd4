#!/usr/bin/env bash
# Data-profiling benchmark: `kiln profile` vs whylogs (and TensorFlow Data
# Validation where it installs), same CSV, same machine, same run.
#
#   bash bench/profile.sh
#
# 1. Creates bench/.venv-whylogs (git-ignored) with whylogs, pandas and numpy
#    from PyPI if missing. whylogs 1.6.4 (its last release) breaks on NumPy 2
#    (np.unicode_), so this venv keeps numpy<2 and pandas<2.3, apart from
#    bench/.venv of the other benchmarks.
# 2. Tries once to install tensorflow-data-validation into its own venv,
#    bench/.venv-tfdv, within KILN_BENCH_TFDV_TIMEOUT seconds; if that fails,
#    the reason is kept in bench/.venv-tfdv/install-failed.txt (with pip's log
#    beside it), TFDV is left out and the report says why. Later runs do not
#    try again unless KILN_BENCH_TFDV_RETRY=1.
# 3. Writes (or reuses) the 1,000,000-row × 20-column CSV in bench/.data/
#    (bench/profile_data.py, seeded) and reads it once to warm the page cache.
# 4. Builds the kiln CLI (release), then runs KILN_BENCH_RUNS rounds of
#    whylogs, kiln, TFDV: whylogs in-process (bench/profile_whylogs.py), kiln
#    as `target/release/kiln profile FILE --out OUT.json` under
#    `/usr/bin/time -f '%e %M'` (a Python stand-in where that is missing).
# 5. bench/report_profile.py writes the medians (rows/s, wall time, peak RSS)
#    and the Kiln/whylogs (Kiln/TFDV) ratios into BENCHMARKS.md, section
#    between <!-- profile:start --> and <!-- profile:end -->. The raw JSON
#    lines are kept in bench/.data/profile-results.jsonl.
#
# Environment:
#   KILN_BENCH_SKIP_KILN=1        run only whylogs/TFDV (Kiln shows as n/a)
#   KILN_BENCH_RUNS=N             number of rounds (default 3)
#   KILN_BENCH_SKIP_TFDV=1        do not try TFDV at all
#   KILN_BENCH_TFDV_RETRY=1       try to install TFDV again after a failure
#   KILN_BENCH_TFDV_TIMEOUT=S     time limit of that install (default 900)
#   PYTHON=python3                interpreter used to create the venvs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/venv.sh
source bench/venv.sh

RUNS="${KILN_BENCH_RUNS:-3}"
SKIP_KILN="${KILN_BENCH_SKIP_KILN:-0}"
SKIP_TFDV="${KILN_BENCH_SKIP_TFDV:-0}"
TFDV_TIMEOUT="${KILN_BENCH_TFDV_TIMEOUT:-900}"
KILN="$ROOT/target/release/kiln"
export WHYLOGS_NO_ANALYTICS=True  # whylogs' opt-out of usage statistics

require_positive_int KILN_BENCH_RUNS "$RUNS"
require_positive_int KILN_BENCH_TFDV_TIMEOUT "$TFDV_TIMEOUT"

# Non-default settings become part of the command shown in the report.
COMMAND="bash bench/profile.sh"
if [[ "$SKIP_TFDV" == "1" ]]; then COMMAND="KILN_BENCH_SKIP_TFDV=1 $COMMAND"; fi
if [[ "$RUNS" != "3" ]]; then COMMAND="KILN_BENCH_RUNS=$RUNS $COMMAND"; fi
if [[ "$SKIP_KILN" == "1" ]]; then COMMAND="KILN_BENCH_SKIP_KILN=1 $COMMAND"; fi

# --- whylogs environment -----------------------------------------------------
# ensure_venv works on $VENV / $PY; point them at the whylogs venv.
VENV="bench/.venv-whylogs"
PY="$VENV/bin/python"
ensure_venv "installing whylogs, pandas<2.3 and numpy<2 into $VENV" \
    "whylogs<1.7=whylogs" "pandas<2.3=pandas" "numpy<2=numpy"

# --- TFDV environment (optional) ---------------------------------------------
TFDV_VENV="bench/.venv-tfdv"
TFDV_PY="$TFDV_VENV/bin/python"
TFDV_FAILED="$TFDV_VENV/install-failed.txt"
TFDV_LOG="$TFDV_VENV/pip-install.log"
TFDV_OK=0
TFDV_NOTE=""

tfdv_imports() {
    [[ -x "$TFDV_PY" ]] && "$TFDV_PY" -c "import tensorflow_data_validation" >/dev/null 2>&1
}

# Sets TFDV_OK=1, or TFDV_NOTE to why TFDV is left out.
ensure_tfdv() {
    if [[ "$SKIP_TFDV" == "1" ]]; then
        TFDV_NOTE="skipped (KILN_BENCH_SKIP_TFDV=1)"
        return
    fi
    if tfdv_imports; then
        TFDV_OK=1
        return
    fi
    if [[ -f "$TFDV_FAILED" && "${KILN_BENCH_TFDV_RETRY:-0}" != "1" ]]; then
        TFDV_NOTE="$(cat "$TFDV_FAILED")"
        echo ">> TFDV left out (an earlier install failed; KILN_BENCH_TFDV_RETRY=1 tries again): $TFDV_NOTE" >&2
        return
    fi
    echo ">> trying to install tensorflow-data-validation into $TFDV_VENV (at most ${TFDV_TIMEOUT}s)" >&2
    rm -rf "$TFDV_VENV"
    "${PYTHON:-python3}" -m venv "$TFDV_VENV"
    local rc=0
    {
        "$TFDV_PY" -m pip install --upgrade pip &&
            timeout -k 30 "$TFDV_TIMEOUT" "$TFDV_PY" -m pip install tensorflow-data-validation
    } >"$TFDV_LOG" 2>&1 || rc=$?
    if [[ "$rc" == 0 ]] && tfdv_imports; then
        TFDV_OK=1
        echo ">> TFDV installed: $("$TFDV_PY" -c 'import tensorflow_data_validation as t; print(t.__version__)' 2>/dev/null)" >&2
        return
    fi
    local py_version why
    py_version="$("$TFDV_PY" -c 'import platform; print(platform.python_version())')"
    if [[ "$rc" == 124 || "$rc" == 137 ]]; then
        why="\`pip install tensorflow-data-validation\` did not finish within ${TFDV_TIMEOUT} s"
        if grep -q "looking at multiple versions" "$TFDV_LOG"; then
            why+=" (pip's resolver was still backtracking through its dependencies, last on: $(grep -o 'looking at multiple versions of [^ ]*' "$TFDV_LOG" | tail -n 1 | sed 's/.* of //'))"
        fi
    elif [[ "$rc" == 0 ]]; then
        why="tensorflow-data-validation installed but does not import: $(
            "$TFDV_PY" -c 'import tensorflow_data_validation' 2>&1 | grep -v '^ ' | tail -n 1)"
    else
        local picked cause
        picked="$(grep -oE 'tensorflow_data_validation-[0-9][^-]*' "$TFDV_LOG" | head -n 1 | sed 's/.*-/TFDV /')"
        why="\`pip install tensorflow-data-validation\` failed (exit $rc"
        why+="${picked:+; pip chose $picked, the newest with a wheel for this Python and platform}"
        if grep -q "looking at multiple versions" "$TFDV_LOG"; then
            why+="; its resolver backtracked through $(grep -o 'looking at multiple versions of [^ ]*' "$TFDV_LOG" | sort -u | wc -l) dependencies' versions against TFDV's pins"
        fi
        why+="): $(grep -E '^ERROR' "$TFDV_LOG" | head -n 3 | tr '\n' ' ' | sed 's/ *$//')"
        # The exception behind a failed source build, e.g. a missing module.
        cause="$(grep -E '^ +[A-Za-z.]*(Error|Exception): ' "$TFDV_LOG" | tail -n 1 | sed 's/^ *//')"
        why+="${cause:+ ($cause)}"
    fi
    TFDV_NOTE="did not install on Python $py_version ($(uname -m)): $why"
    printf '%s\n' "$TFDV_NOTE" >"$TFDV_FAILED"
    echo "!! $TFDV_NOTE (pip's log: $TFDV_LOG)" >&2
}
ensure_tfdv

# --- data --------------------------------------------------------------------
mkdir -p bench/.data
DATA_JSON="bench/.data/profile-data.json"
"$PY" bench/profile_data.py >"$DATA_JSON"
DATA="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["path"])' "$DATA_JSON")"
ROWS="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["rows"])' "$DATA_JSON")"
COLS="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["columns"])' "$DATA_JSON")"
echo ">> data: $(cat "$DATA_JSON")" >&2
cat "$DATA" >/dev/null  # warm the page cache so the first tool is not penalised

# --- Kiln binary -------------------------------------------------------------
KILN_VERSION="n/a"
if [[ "$SKIP_KILN" != "1" ]]; then
    echo ">> building kiln (release)" >&2
    cargo build --release -p kiln-cli >&2
    KILN_VERSION="$("$KILN" --version)"
fi

# --- measurements ------------------------------------------------------------
WORK="$(mktemp -d -t kiln-profile.XXXXXX)"
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

# One `kiln profile` run as a JSON line (peak RSS and wall time of the process).
kiln_run() {
    local label="$1"
    local out="$WORK/$label.profile.json" tf="$WORK/$label.time" err="$WORK/$label.err"
    rm -f "$out"
    timed_run bench/report_profile.py "$tf" "$KILN" profile "$DATA" --out "$out" \
        >"$WORK/$label.stdout" 2>"$err"
    "$PY" bench/report_profile.py kiln-result --rc "$RC" --stderr "$err" --time-file "$tf" \
        --wall "$WALL" --out "$out" --rows "$ROWS" --columns "$COLS" --version "$KILN_VERSION"
}

for ((i = 1; i <= RUNS; i++)); do
    echo ">> run $i/$RUNS: whylogs" >&2
    measure "whylogs-$i" "$PY" bench/profile_whylogs.py "$DATA"
    if [[ "$SKIP_KILN" != "1" ]]; then
        echo ">> run $i/$RUNS: kiln" >&2
        measure "kiln-$i" kiln_run "kiln-$i"
    fi
    if [[ "$TFDV_OK" == "1" ]]; then
        echo ">> run $i/$RUNS: tfdv" >&2
        measure "tfdv-$i" "$TFDV_PY" bench/profile_whylogs.py "$DATA" --tool tfdv
    fi
done
cp "$RESULTS" bench/.data/profile-results.jsonl

# --- report ------------------------------------------------------------------
REPORT_ARGS=()
RUSTC_VERSION="n/a"
if [[ "$SKIP_KILN" == "1" ]]; then
    REPORT_ARGS+=(--skip-kiln)
else
    RUSTC_VERSION="$(rustc_version)"
fi

"$PY" bench/report_profile.py report \
    --results "$RESULTS" \
    --output BENCHMARKS.md \
    --runs "$RUNS" \
    --nproc "$(nproc)" \
    --uname "$(uname -sr)" \
    --rustc "$RUSTC_VERSION" \
    --data-json "$DATA_JSON" \
    --tfdv-note "$TFDV_NOTE" \
    --command "$COMMAND" \
    "${REPORT_ARGS[@]}"
echo ">> raw per-run results: bench/.data/profile-results.jsonl" >&2
