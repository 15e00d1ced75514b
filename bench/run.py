"""Benchmark the pipeline: full run, incremental experiment, overhead over plain Keras, inference.

    python bench/run.py [--out bench/results.json] [--hidden 8] [--keep] [--inference-only CLONE]
    python bench/run.py --grid [POINT ...] [--workers 2]     # the grid phase, serial against workers
    python bench/run.py --sep-epoch [--rounds 6]              # one sep epoch: Keras's BatchNorm vs the fused one

Each mode lives in its own module beside this one, which says what it measures: full.py (the
default), grid.py (--grid), sep_epoch.py (--sep-epoch). Every mode adds its keys to --out and keeps
the others; the measurements that train or time a network run in a process of their own (probes.py).
"""
import argparse
from pathlib import Path

import common
import full
import grid
import sep_epoch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(common.ROOT / "bench" / "results.json"))
    ap.add_argument("--hidden", type=int, default=8, help="student.hidden for the incremental experiment")
    ap.add_argument("--keep", action="store_true", help="keep the temporary clone")
    ap.add_argument("--inference-only", metavar="CLONE", type=Path,
                    help="re-measure only step 4 in a clone kept by --keep, and update --out in place")
    ap.add_argument("--grid", nargs="*", metavar="POINT",
                    help="measure only the grid phase, for these stages or stage groups (default: sweep sweep_mlp)")
    ap.add_argument("--workers", type=int, default=2, help="workers for --grid (default 2)")
    ap.add_argument("--sep-epoch", action="store_true", help="measure only one sep epoch, before and now")
    ap.add_argument("--rounds", type=int, default=6, help="timed epochs of each for --sep-epoch (default 6)")
    args = ap.parse_args()
    kept = common.read_results(args.out)
    if args.sep_epoch:
        sep_epoch.measure(args.rounds, args.out, kept)
    elif args.grid is not None:
        grid.measure(args.grid or ["sweep", "sweep_mlp"], args.workers, args.out, kept)
    elif args.inference_only:
        full.inference_only(args.inference_only, args.out, kept)
    else:
        full.measure(args.hidden, args.keep, args.out, kept)


if __name__ == "__main__":
    main()
