#!/usr/bin/env bash
# The demo: generate grasp sequences on the bundled objects, then validate them in MuJoCo.
# Minutes on a laptop CPU. Extra arguments go to `seqgrasp generate`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p demo-output
.venv/bin/seqgrasp generate --hand allegro --first 4 --batch 32 --steps 1000 --workers 2 \
  --out demo-output/run.parquet "$@"
.venv/bin/seqgrasp validate demo-output/run.parquet --out demo-output/run_validated.parquet
