# Python environment of the benchmarks (bench/.venv, git-ignored). Sourced by
# bench/run_mlp.sh and bench/accuracy.sh once they are in the repository root.
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
