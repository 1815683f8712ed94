#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 and install bayesseg into it.
#   bash scripts/bootstrap.sh          # runtime only
#   bash scripts/bootstrap.sh test     # + test tools (pytest, hypothesis, fakesnow, ruff, mypy, selenium)
#                                      #   and Chromium with its driver (scripts/system-packages.sh, apt-get)
#   bash scripts/bootstrap.sh test,docs,jax   # + JAX and numpyro: the optional sampler = "numpyro" path, tested by CI
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
case ",$extras," in *,test,*) bash scripts/system-packages.sh ;; esac
py=$(bash scripts/find-python.sh)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
  rm -rf .venv
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install --quiet -e ".[${extras}]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
echo "bayesseg installed in .venv with $(.venv/bin/python --version)"
