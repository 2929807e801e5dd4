# Python environment of the benchmarks (bench/.venv, git-ignored), and shell
# helpers they share. Sourced by the bench/*.sh scripts once they are in the
# repository root; the helpers run Python as $PY.
#
#   PYTHON=python3   interpreter used to create the venv

VENV="bench/.venv"
PY="$VENV/bin/python"

# ensure_venv MESSAGE PACKAGE[=MODULE]...
# Creates $VENV with ${PYTHON:-python3} if it has no python yet. Then, unless
# every MODULE (the PACKAGE name where no =MODULE is given) imports, prints
# ">> MESSAGE" and pip-installs the PACKAGEs (after upgrading pip).
ensure_venv() {
    local message="$1"
    shift
    local spec imports=""
    local packages=()
    for spec in "$@"; do
        packages+=("${spec%%=*}")
        imports+="${imports:+, }${spec#*=}"
    done
    if [[ ! -x "$PY" ]]; then
        echo ">> creating virtual environment $VENV" >&2
        "${PYTHON:-python3}" -m venv "$VENV"
    fi
    if ! "$PY" -c "import $imports" >/dev/null 2>&1; then
        echo ">> $message" >&2
        "$PY" -m pip install --upgrade pip >&2
        "$PY" -m pip install "${packages[@]}" >&2
    fi
}

# require_positive_int NAME VALUE
# Exits 2, saying so, unless VALUE (the setting of environment variable NAME)
# is a positive integer.
require_positive_int() {
    if ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
        echo "$1 must be a positive integer, got '$2'" >&2
        exit 2
    fi
}

# timed_run REPORT_PY TIME_FILE COMMAND...
# Runs COMMAND under `/usr/bin/time -f '%e %M' -o TIME_FILE`, or where that is
# missing under REPORT_PY's `time-child` stand-in, which writes the same line.
# Sets RC to its exit code and WALL to the wall-clock seconds around it
# (EPOCHREALTIME: more digits than %e). Redirect the call to redirect COMMAND.
timed_run() {
    local report="$1" time_file="$2"
    shift 2
    local start end
    RC=0
    start="$EPOCHREALTIME"
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f '%e %M' -o "$time_file" "$@" || RC=$?
    else
        "$PY" "$report" time-child --output "$time_file" -- "$@" || RC=$?
    fi
    end="$EPOCHREALTIME"
    WALL="$("$PY" -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$start" "$end")"
}

# rustc_version: `rustc --version`, or "n/a" where there is no rustc.
rustc_version() {
    if command -v rustc >/dev/null 2>&1; then
        rustc --version
    else
        echo "n/a"
    fi
}
