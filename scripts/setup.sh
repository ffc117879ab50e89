#!/usr/bin/env bash
# Creates .venv (once) and installs seqgrasp with its test tools and the extras the
# tests exercise (can: python-can, mano: smplx) into it.
# torch is pinned first to the CPU build: an open `torch` requirement on a machine
# without torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test,can,mano,scale]"

# The HTML viewer test of `seqgrasp show` runs the page in headless Chromium
# (Debian package `chromium`). Installed only when we may (root); without it that
# test is skipped with a reason.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "chromium not installed: the headless browser test will be skipped"
  else
    echo "chromium not found (install the Debian package 'chromium' as root to run the browser test)"
  fi
fi
