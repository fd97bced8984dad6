#!/bin/bash
# Precision and recall (PRD F1/8, F8) of each ablation run's kept (best) generator, after
# training: the ablation evaluated the FID only. Same samples as the training-time evaluation
# (the FID printed here equals results.csv's). Run from the repository root:
#   bash results/layer_ablation_v2/posthoc/posthoc_prd.sh
set -euo pipefail
out=results/layer_ablation_v2/posthoc
for run in results/layer_ablation_v2/runs/*; do
  id=$(basename "$run")
  OMP_NUM_THREADS=1 python scripts/evaluate.py "$run/best" --metrics fid,prd \
    --num-samples 10000 --out "$out/$id" 2>/dev/null | grep -E "^(fid|prd)"
done
python - <<'PY'
import json, pathlib
import pandas as pd
out = pathlib.Path("results/layer_ablation_v2/posthoc")
rows = [{"id": d.name, **json.loads((d / "metrics.json").read_text())} for d in sorted(out.iterdir()) if d.is_dir()]
pd.DataFrame(rows).to_csv(out / "best_prd.csv", index=False)
print(f"wrote {out / 'best_prd.csv'}")
PY
