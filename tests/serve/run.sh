#!/usr/bin/env bash
# Tests of `kiln serve` against the real server (issue 7):
#   conformance.py  tritonclient (HTTP) + raw HTTP + TF Serving REST, answers equal to `kiln predict`
#   load.py         64 concurrent clients, a new version dropped in during the load, flat memory
#
# Usage (from the repository root):  tests/serve/run.sh PATH_TO_KILN_BINARY
# Environment: SERVE_LOAD_SECONDS (default 60), SERVE_LOAD_CLIENTS (default 64),
#              SERVE_STRICT=1 (warnings of [ext] checks become failures),
#              SERVE_WORKDIR (keep data, models and server logs there; default a temp folder),
#              PYTHON (default python3; needs the venv module).
set -uo pipefail

die() { echo "tests/serve: FAIL: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: tests/serve/run.sh PATH_TO_KILN_BINARY"
KILN=$(realpath "$1" 2>/dev/null) || die "no such file: $1"
[ -x "$KILN" ] || die "not an executable: $KILN"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}

"$KILN" serve --help >/dev/null 2>&1 || die "$KILN has no working 'serve' command"

VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  echo "tests/serve: creating $VENV"
  "$PY" -m venv "$VENV" || die "could not create a virtual environment with $PY -m venv"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'tritonclient[http]' numpy \
  || die "pip install of tritonclient[http] and numpy failed"
"$VENV/bin/python" -c 'import tritonclient, numpy; from importlib.metadata import version as v; print("tests/serve: tritonclient", v("tritonclient"), "numpy", numpy.__version__)' \
  || die "tritonclient/numpy not importable from $VENV"

if [ -n "${SERVE_WORKDIR:-}" ]; then
  WORK=$SERVE_WORKDIR; mkdir -p "$WORK"
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-serve-test.XXXXXX")
fi
echo "tests/serve: work folder $WORK"

"$VENV/bin/python" "$HERE/make_data.py" "$ROOT/datasets/breast_cancer.csv" "$WORK" || die "making the data failed"
for s in 1 2; do
  out="$WORK/mixed_seed$s.kiln"
  "$KILN" train "$WORK/train.csv" --target diagnosis --seed $s --out "$out" > "$WORK/train_seed$s.log" 2>&1 \
    || { cat "$WORK/train_seed$s.log" >&2; die "kiln train --seed $s failed"; }
done
cp "$WORK/mixed_seed1.kiln" "$WORK/mixed.kiln"   # model name = file stem

status=0
echo; echo "=== conformance ==="
"$VENV/bin/python" "$HERE/conformance.py" --kiln "$KILN" --model "$WORK/mixed.kiln" \
  --holdout "$WORK/holdout.csv" --workdir "$WORK" || { status=1; echo "tests/serve: conformance FAILED"; }
echo; echo "=== load ==="
"$VENV/bin/python" "$HERE/load.py" --kiln "$KILN" --v1 "$WORK/mixed_seed1.kiln" --v2 "$WORK/mixed_seed2.kiln" \
  --holdout "$WORK/holdout.csv" --workdir "$WORK" || { status=1; echo "tests/serve: load FAILED"; }

echo
if [ $status -eq 0 ]; then
  echo "tests/serve: PASS"
  [ -z "${SERVE_WORKDIR:-}" ] && rm -rf "$WORK"
else
  echo "tests/serve: FAIL (server logs and data kept in $WORK)"
fi
exit $status
