#!/usr/bin/env bash
# Drift benchmark: `kiln validate CURRENT --reference REFERENCE --json` vs
# Evidently's DataDriftPreset, same CSVs, same machine, same run.
#
#   bash bench/drift.sh
#
# 1. Creates bench/.venv-evidently (git-ignored) with Evidently 0.7 and
#    pandas < 3 from PyPI if missing (Evidently 0.7.23 does not import under
#    pandas 3), apart from bench/.venv of the other benchmarks.
# 2. Writes (or reuses) the 50,000-row reference and the 250,000-row current
#    CSV, 20 columns, in bench/.data/ (bench/drift_data.py, seeded; a known
#    subset of the columns drifts by designed amounts) and reads both once to
#    warm the page cache.
# 3. Builds the kiln CLI (release) unless KILN names a binary, then runs
#    KILN_BENCH_RUNS rounds of Evidently, Kiln, each as its own process under
#    `/usr/bin/time -f '%e %M'` (a Python stand-in where that is missing):
#    Evidently as bench/drift_evidently.py (pandas.read_csv, a DataDefinition
#    with the numerical and categorical columns, Report([DataDriftPreset()]));
#    Kiln as `kiln validate CURRENT --reference REFERENCE --json`.
#    Then KILN_BENCH_SAMPLES untimed Kiln runs that name the same two files
#    through symlinks: Kiln salts its 4,096-row drift sample with the path as
#    given, so each run compares another sample (how stable its verdicts are).
#    The timed runs pass paths relative to the repository root, so their
#    sample does not depend on where the repository is checked out.
# 4. bench/report_drift.py writes the medians (seconds, peak RSS), the
#    Kiln/Evidently ratios and the column-by-column comparison of tests,
#    scores and verdicts into BENCHMARKS.md, section between
#    <!-- drift:start --> and <!-- drift:end -->. The raw JSON lines are kept
#    in bench/.data/drift-results.jsonl.
#
# Environment:
#   KILN=PATH                     use this kiln binary, do not build one
#   KILN_BENCH_RUNS=N             number of rounds (default 3)
#   KILN_BENCH_SAMPLES=N          untimed Kiln runs on other row samples (default 20)
#   PYTHON=python3                interpreter used to create the venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=bench/venv.sh
source bench/venv.sh

RUNS="${KILN_BENCH_RUNS:-3}"
SAMPLES="${KILN_BENCH_SAMPLES:-20}"
require_positive_int KILN_BENCH_RUNS "$RUNS"
if ! [[ "$SAMPLES" =~ ^[0-9]+$ ]]; then
    echo "KILN_BENCH_SAMPLES must be a non-negative integer, got '$SAMPLES'" >&2
    exit 2
fi

# Non-default settings become part of the command shown in the report.
COMMAND="bash bench/drift.sh"
if [[ "$RUNS" != "3" ]]; then COMMAND="KILN_BENCH_RUNS=$RUNS $COMMAND"; fi
if [[ "$SAMPLES" != "20" ]]; then COMMAND="KILN_BENCH_SAMPLES=$SAMPLES $COMMAND"; fi
if [[ -n "${KILN:-}" ]]; then COMMAND="KILN=$KILN $COMMAND"; fi

# --- Evidently environment ---------------------------------------------------
# ensure_venv works on $VENV / $PY; point them at the Evidently venv.
VENV="bench/.venv-evidently"
PY="$VENV/bin/python"
ensure_venv "installing evidently 0.7 and pandas<3 into $VENV" \
    "evidently<0.8=evidently" "pandas<3=pandas"

# --- data --------------------------------------------------------------------
mkdir -p bench/.data
DATA_JSON="bench/.data/drift-data.json"
"$PY" bench/drift_data.py >"$DATA_JSON"
field() { "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))' "$DATA_JSON" "$1"; }
# Relative to the repository root: Kiln's row sample is salted with the path as given.
REFERENCE="$(realpath --relative-to="$ROOT" "$(field 'reference["path"]')")"
CURRENT="$(realpath --relative-to="$ROOT" "$(field 'current["path"]')")"
REF_ROWS="$(field 'reference["rows"]')"
CUR_ROWS="$(field 'current["rows"]')"
# The types Kiln infers, given to Evidently explicitly (a 1-5 rating is numerical to both).
NUMERICAL="$(field '",".join(c for c, p in plan.items() if p["kind"] == "numeric")')"
CATEGORICAL="$(field '",".join(c for c, p in plan.items() if p["kind"] == "categorical")')"
echo ">> data: reference $REFERENCE ($REF_ROWS rows), current $CURRENT ($CUR_ROWS rows)" >&2
cat "$REFERENCE" "$CURRENT" >/dev/null  # warm the page cache so the first tool is not penalised

# --- kiln --------------------------------------------------------------------
if [[ -n "${KILN:-}" ]]; then
    echo ">> using kiln at $KILN (KILN set: not building)" >&2
else
    KILN="$ROOT/target/release/kiln"
    echo ">> building kiln (release)" >&2
    cargo build --release -p kiln-cli >&2
fi
KILN_VERSION="$("$KILN" --version)"

# --- measurements ------------------------------------------------------------
WORK="$(mktemp -d -t kiln-drift.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# Runs COMMAND... under /usr/bin/time (or the stand-in), stdout to $WORK/LABEL.out,
# stderr to $WORK/LABEL.err, '%e %M' to $WORK/LABEL.time; sets RC and WALL.
timed() {
    local label="$1"
    shift
    timed_run bench/report_drift.py "$WORK/$label.time" "$@" \
        >"$WORK/$label.out" 2>"$WORK/$label.err"
}

# One run of TOOL (kiln or evidently): appends its JSON line to $RESULTS.
run_tool() {
    local tool="$1" label="$1-$2"
    if [[ "$tool" == "kiln" ]]; then
        timed "$label" "$KILN" validate "$CURRENT" --reference "$REFERENCE" --json
    else
        timed "$label" "$PY" bench/drift_evidently.py "$REFERENCE" "$CURRENT" \
            --numerical "$NUMERICAL" --categorical "$CATEGORICAL"
    fi
    local line
    if ! line="$("$PY" bench/report_drift.py result --tool "$tool" --rc "$RC" \
        --stderr "$WORK/$label.err" --time-file "$WORK/$label.time" --wall "$WALL" \
        --out "$WORK/$label.out" --rows "$CUR_ROWS" --reference-rows "$REF_ROWS" \
        --version "$KILN_VERSION")"; then
        echo "!! $label failed; its stderr:" >&2
        tail -n 20 "$WORK/$label.err" >&2
        exit 1
    fi
    echo ">> $label: $(printf '%s' "$line" | "$PY" -c 'import json, sys; d = json.load(sys.stdin); print("report {total_s:.3f} s, process {process_s:.3f} s, peak {mib:.0f} MiB, {drifted} columns drifted".format(mib=d["peak_rss_kib"] / 1024, **d))')" >&2
    printf '%s\n' "$line" >>"$RESULTS"
}

for ((i = 1; i <= RUNS; i++)); do
    echo ">> run $i/$RUNS: evidently" >&2
    run_tool evidently "$i"
    echo ">> run $i/$RUNS: kiln" >&2
    run_tool kiln "$i"
done
cp "$RESULTS" bench/.data/drift-results.jsonl

SAMPLE_RESULTS="$WORK/samples.jsonl"
: >"$SAMPLE_RESULTS"
if ((SAMPLES > 0)); then
    echo ">> $SAMPLES untimed kiln runs on other row samples (the same files through symlinks)" >&2
fi
for ((j = 1; j <= SAMPLES; j++)); do
    dir="$WORK/sample-$j"
    mkdir -p "$dir"
    ln -s "$ROOT/$REFERENCE" "$dir/reference.csv"
    ln -s "$ROOT/$CURRENT" "$dir/current.csv"
    rc=0
    "$KILN" validate "$dir/current.csv" --reference "$dir/reference.csv" --json \
        >"$dir/out.json" 2>"$dir/err" || rc=$?
    if ! "$PY" bench/report_drift.py kiln-columns --rc "$rc" --out "$dir/out.json" \
        --label "sample-$j" >>"$SAMPLE_RESULTS"; then
        tail -n 20 "$dir/err" >&2
        exit 1
    fi
done
cp "$SAMPLE_RESULTS" bench/.data/drift-samples.jsonl

# --- report ------------------------------------------------------------------
"$PY" bench/report_drift.py report \
    --results "$RESULTS" \
    --output BENCHMARKS.md \
    --runs "$RUNS" \
    --nproc "$(nproc)" \
    --uname "$(uname -sr)" \
    --rustc "$(rustc_version)" \
    --data-json "$DATA_JSON" \
    --samples "$SAMPLE_RESULTS" \
    --command "$COMMAND"
echo ">> raw per-run results: bench/.data/drift-results.jsonl" >&2
