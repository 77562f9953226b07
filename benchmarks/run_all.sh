#!/usr/bin/env bash
# Every figure of the README's "Speed" section in one run, on an otherwise idle machine (each benchmark prints its
# figures and the ratios it measured in the same process; see each script's docstring).
#
#   bash benchmarks/run_all.sh [CUBES]      # CUBES: stage-2 test cubes (.npy) for the collision score, optional
#
# About 25 minutes on a 2-core CPU. Run from the repository root with the package installed.
set -euo pipefail
cubes=("$@")
run() { echo "=== $*  ($(date +%T))"; "$@" 2>&1 | grep -v "^INFO"; }
echo "machine: $(nproc) cores; $(uptime)"
run env OMP_NUM_THREADS=2 python benchmarks/bm_stage2.py --quick --reference-steps 1
run python benchmarks/bm_pipeline.py --threads 1 2 --frames 6
run python benchmarks/bm_throughput.py --images 6
run python benchmarks/bm_collision.py --threads 2 ${cubes[0]:+--cubes "${cubes[0]}"}
run env OMP_NUM_THREADS=2 python benchmarks/bm_stage1.py --presets official --repeats 2
run python benchmarks/bm_metrics.py
echo "done $(date +%T)"
