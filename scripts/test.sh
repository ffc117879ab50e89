#!/usr/bin/env bash
# Sets up .venv, checks the import contracts (pyproject.toml) and runs the test suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/lint-imports
.venv/bin/python -m pytest -q --durations=15 "$@"
