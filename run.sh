#!/usr/bin/env bash
# Set up egohmr in ./.venv (idempotent) and run one job:
#   ./run.sh demo [ARGS]   install everything, then run `egohmr demo ARGS`
#   ./run.sh test [ARGS]   install everything, then run the test suite (pytest ARGS)
#   ./run.sh egohmr ARGS   install everything, then run any `egohmr` subcommand
# Settings (environment variables, docs/install.md):
#   EGOHMR_TORCH        torch requirement installed first (default torch==2.13.0), e.g. "torch==2.14.1" on a GPU machine
#   EGOHMR_TORCH_INDEX  package index for torch only, e.g. PyTorch's CPU wheel index where PyPI would serve CUDA
#   EGOHMR_EXTRAS       extras of egohmr (default test,render; add viewer for `egohmr view`: test,render,viewer)
#   EGOHMR_VENV         the virtual environment folder (default .venv)
set -euo pipefail
cd "$(dirname "$0")"
VENV="${EGOHMR_VENV:-.venv}"
TORCH_REQ="${EGOHMR_TORCH:-torch==2.13.0}"
TORCH_INDEX="${EGOHMR_TORCH_INDEX:-}"
EXTRAS="${EGOHMR_EXTRAS:-test,render}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.egohmr-installed"
want="$TORCH_REQ|$TORCH_INDEX|$EXTRAS|$(cat pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$PY" -m pip install --quiet --upgrade pip
  # torch first: any other order lets a dependency pull a multi-GB CUDA build (see docs/install.md).
  if [ -n "$TORCH_INDEX" ]; then
    "$PY" -m pip install --quiet --index-url "$TORCH_INDEX" "$TORCH_REQ"
  else
    "$PY" -m pip install --quiet "$TORCH_REQ"
  fi
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
