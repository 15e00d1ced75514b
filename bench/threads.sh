#!/usr/bin/env bash
# Two one-thread workers against one two-thread worker, with the study's own seed stage (docs/study.md):
# one seed alone at runtime.tf_threads 2, then two side by side at 1 thread, each pinned to a core, in a
# scratch copy of the study's upstream (study/data must hold it: run the study's upstream first).
#   NET="tied 8-26-3-16" EP=2 bash bench/threads.sh      (default: vsep 7-10-10-11-12, 3 epochs)
# Prints each epoch's line; the ratio is 2 x (epoch time alone) / (epoch time side by side).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python}
NET=${NET:-vsep 7-10-10-11-12}; EP=${EP:-3}
S=$(mktemp -d); trap 'rm -rf "$S"' EXIT
mkdir -p "$S/data" "$S/metrics"
for f in mnist.npz mnist.recipe.json views teacher_outputs; do ln -s "$ROOT/study/data/$f" "$S/data/"; done
for threads in 2 1; do
  "$PY" - "$ROOT/study/params.yaml" "$S/params.yaml" "$threads" "$EP" <<'PY'
import sys, yaml
p = yaml.safe_load(open(sys.argv[1]))
p["runtime"]["tf_threads"] = int(sys.argv[3])
for f in p["study"].values():
    f["epochs"], f["seeds"] = [int(sys.argv[4])], [0, 1]
yaml.safe_dump(p, open(sys.argv[2], "w"), sort_keys=False)
PY
  cd "$S"
  if [ "$threads" = 2 ]; then
    PYTHONPATH="$ROOT" "$PY" -m stages.study_seed $NET kd "$EP" 0 2>&1 | grep -E "epoch|trained in" | sed 's/^/2 threads alone: /'
  else
    PYTHONPATH="$ROOT" taskset -c 0 "$PY" -m stages.study_seed $NET kd "$EP" 0 2>&1 | grep -E "epoch|trained in" | sed 's/^/1 thread, core 0: /' &
    PYTHONPATH="$ROOT" taskset -c 1 "$PY" -m stages.study_seed $NET hard "$EP" 1 2>&1 | grep -E "epoch|trained in" | sed 's/^/1 thread, core 1: /'
    wait
  fi
done
