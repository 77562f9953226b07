#!/usr/bin/env bash
# Set up egohmr in ./.venv (idempotent) and run one job:
#   ./run.sh demo [ARGS]   install everything, then run `egohmr demo ARGS`
#   ./run.sh test [ARGS]   install everything, then run the test suite (pytest ARGS)
#   ./run.sh egohmr ARGS   install everything, then run any `egohmr` subcommand
# torch is installed first, pinned to the CPU build that this project is tested with (torch==2.13.0); on a GPU
# machine set EGOHMR_TORCH to the torch requirement you want, e.g. EGOHMR_TORCH="torch==2.14.1".
set -euo pipefail
cd "$(dirname "$0")"
VENV="${EGOHMR_VENV:-.venv}"
TORCH_REQ="${EGOHMR_TORCH:-torch==2.13.0}"
EXTRAS="${EGOHMR_EXTRAS:-test,render,backbone}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.egohmr-installed"
want="$TORCH_REQ|$EXTRAS|$(cat pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$PY" -m pip install --quiet --upgrade pip
  # torch first: any other order lets a dependency pull a multi-GB CUDA build (see docs/install.md).
  "$PY" -m pip install --quiet "$TORCH_REQ"
  "$PY" -m pip install --quiet -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi

job="${1:-demo}"
shift || true
case "$job" in
  demo) exec "$VENV/bin/egohmr" demo "$@" ;;
  test) exec "$PY" -m pytest -q "$@" ;;
  egohmr) exec "$VENV/bin/egohmr" "$@" ;;
  *) echo "usage: ./run.sh demo|test|egohmr [ARGS]" >&2; exit 2 ;;
esac
