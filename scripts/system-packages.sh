#!/usr/bin/env bash
# System packages the tests need: Debian's Chromium and its driver (the browser tests open every HTML page
# the project writes). Installed with apt-get when missing (through sudo when not root); elsewhere, an error
# that names them. Called by `bash scripts/bootstrap.sh test`.
set -euo pipefail
if command -v chromedriver >/dev/null 2>&1 && { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "the browser tests need Chromium and chromedriver: install them (Debian: apt-get install -y chromium chromium-driver)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "installed $(chromium --version 2>/dev/null || echo chromium) and chromedriver"
