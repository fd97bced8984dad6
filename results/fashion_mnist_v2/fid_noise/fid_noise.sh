#!/bin/bash
# FID sampling noise at 10000 samples (Fashion-MNIST classifier features): one trained G, 5 sample seeds.
cd /work/main
for run in "results/speed_parity/runs/norm=sbn,path=fp32,seed=2" "results/speed_parity/runs/norm=bn,path=fp32,seed=2"; do
  for s in 0 1 2 3 4; do
    echo "== $run seed $s"
    OMP_NUM_THREADS=1 python scripts/evaluate.py "$run" --metrics fid,is --num-samples 10000 --seed $s --out results/fashion_mnist_v2/fid_noise/$(basename "$run")/$s 2>&1 | tail -4
  done
done
