#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or fail with a message.
# Order: $BAYESSEG_PYTHON, python3.13/python3.12/python3 on PATH, then pyenv's installed 3.12+ versions.
# A candidate counts only if it actually runs and reports >= 3.12 (pyenv shims can exist yet fail).
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for c in "${BAYESSEG_PYTHON:-}" python3.14 python3.13 python3.12 python3; do
  [ -n "$c" ] || continue
  p=$(command -v "$c" 2>/dev/null) || continue
  if ok "$p"; then
    # resolve pyenv shims to the real interpreter so the venv does not depend on PYENV_VERSION
    real=$("$p" -c 'import sys; print(sys.executable)' 2>/dev/null)
    echo "${real:-$p}"; exit 0
  fi
done
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])(\.[0-9]+)?$' | sort -V); do
    p=$(PYENV_VERSION="$v" pyenv which python 2>/dev/null) || continue
    if ok "$p"; then echo "$p"; exit 0; fi
  done
fi
for p in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.*/bin/python 2>/dev/null | sort -V); do
  if ok "$p"; then echo "$p"; exit 0; fi
done
echo "bayesseg needs Python >= 3.12 (PyMC 6, ArviZ 1.x); none found. Install one or set BAYESSEG_PYTHON=/path/to/python3.12" >&2
exit 1
