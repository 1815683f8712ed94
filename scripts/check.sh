#!/usr/bin/env bash
# The project's checks, as CI runs them: lint, types, the layer contract, docs (warnings are errors), fast tests.
# Slow statistical tests are separate: .venv/bin/python -m pytest -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
echo "== ruff";   $py -m ruff check . && $py -m ruff format --check .
echo "== mypy";   $py -m mypy
echo "== layers"; .venv/bin/lint-imports --no-cache
echo "== docs";   $py -m sphinx -W --keep-going -q -b html docs docs/_build/html
echo "== extras"; $py -c "import jax, numpyro"  # the jax extra (bootstrap.sh test,docs,jax): its tests run, not skip
echo "== pytest"; $py -m pytest -m "not slow" -n 2 -p no:cacheprovider "$@"
