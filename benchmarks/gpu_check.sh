#!/usr/bin/env bash
# The GPU path in one run (see benchmarks/gpu_check.py): under 8 minutes on one GPU, a JSON
# summary on stdout. `--small` runs every part in seconds on any machine (the suite does that).
#
# On a lent GPU machine, whose python3 has torch but not every dependency, carry wheels of the
# missing ones (entmax; see the device tool's README) and install them before this script, and
# copy breastmnist.npz into a git-excluded folder of the repository, e.g.
#   MEDMNIST_ROOT=$PWD/.data bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c "import torch, entmax, yaml, tqdm, sklearn, matplotlib" 2>/dev/null; then
    echo "gpu_check: $PYTHON lacks a dependency of zodarts (torch, entmax, pyyaml, tqdm," \
         "scikit-learn, matplotlib); install them (or carry their wheels) first" >&2
    exit 1
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec "$PYTHON" benchmarks/gpu_check.py "$@"
