#!/usr/bin/env bash
# The speed figures of results/speed/README.md, in one go on an otherwise idle machine:
#   bash results/speed/run_benchmarks.sh > results/speed/benchmarks.txt 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- registry zoo scripts benchmarks || echo +dirty)"
echo "== quickstart path: fast default vs fp32 contiguous"
python scripts/bench.py step --gin quickstart.gin --steps 20 --rounds 5
echo "== torch-mimicry peer (pip install --no-deps torch-mimicry)"
python scripts/bench.py peer --steps 2 --rounds 3 --warmup 1
echo "== widths (small: 10 steps per round; width 1: 2 steps per round)"
python scripts/bench.py widths --widths 0.125 0.25 --steps 10 --rounds 3
python scripts/bench.py widths --widths 1 --steps 2 --rounds 3 --warmup 1
echo "== BN against sBN"
for w in 0.125 0.25; do python scripts/bench.py train --width $w --steps 20 --rounds 5; done
python scripts/bench.py train --width 1 --steps 2 --rounds 3 --warmup 1
echo "== each part of the fast path, and torch.compile"
python scripts/bench.py variants --width 0.25 --steps 10 --rounds 3 --warmup 3 --compile
