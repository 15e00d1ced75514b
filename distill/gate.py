"""CI's check on a reproduction: did the headline metrics come back as committed?

    python -m distill.gate [--base HEAD] [--summary FILE]   compare the work tree's metrics with the base's
    python -m distill.gate --record                         write metrics/machine.json (commit it with the results)

Prints `dvc metrics diff <base> --md` and a table of the gated figures as Markdown (appended to FILE,
e.g. $GITHUB_STEP_SUMMARY), and exits 1 when a gated figure moved by more than the tolerance.
DVC's `metrics diff` has no tolerance option (treeverse/dvc#10408), so the check is ours.

The gated figures are the seeded headline ones: the teacher, the headline student (mean over its
seeds), each standalone network of the default grid (mean over seeds), and the accuracy of every
shipped file (.tflite run in LiteRT, .dcz decoded). The one-seed head sweep is not gated: a 3-epoch
head-2 point moved 3.7 points between two CPU types.

The tolerance is zero where this machine is the one that made the committed run, as far as the bytes
care (metrics/machine.json: CPU model and instruction sets, TensorFlow's thread count and version):
there the pipeline is deterministic and any change is a real one. Elsewhere TensorFlow picks other
kernels (oneDNN dispatches on AVX2 / AVX-512 / AMX) and sums in another order, and the numbers drift
by seed-noise amounts; see docs/determinism.md for the measurements behind OTHER_MACHINE.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from distill.compression.config import CompressConfig, DeepCompressConfig
from distill.core import names, paths, runtime
from distill.core import params as P
from distill.training.config import sweep_spec

MACHINE = f"{paths.METRICS}/machine.json"
SAME_MACHINE = 0.0  # accuracy, absolute: a deterministic rerun gives the same bytes
OTHER_MACHINE = 0.005  # 0.5 points: ~17x the largest seeded-figure drift measured across CPU types (0.03 points)
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")  # what oneDNN and XNNPACK dispatch on


def machine(path=P.PARAMS_FILE):
    """What decides the bytes on this machine, as far as we know: CPU model and instruction sets,
    TensorFlow's thread count (runtime.tf_threads) and version."""
    from importlib.metadata import version

    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:  # not Linux: the model alone
        pass
    return {"cpu": cpu, "isa": [f for f in ISA_FLAGS if f in flags],
            "tf_threads": runtime.config(path).tf_threads, "tensorflow": version("tensorflow")}


def gated(path=P.PARAMS_FILE):
    """(file, key) of every gated figure, from params: what the default pipeline ships."""
    sweep = P.section("sweep", sweep_spec(), path)
    compress = P.section("compress", CompressConfig, path)
    deep = P.section("deep_compress", DeepCompressConfig, path)
    out = [(paths.TEACHER_RECORD, "accuracy"), (paths.STUDENT_RECORD, "accuracy")]
    out += [(paths.sweep_record(s.name), "accuracy") for s in sweep.specs() if s.arch in names.STANDALONE]
    out += [(paths.compress_record(n), "accuracy") for n in (names.TEACHER, *compress.students)]
    out += [(paths.deep_record(n), "accuracy") for n in deep.subjects]
    return out


def _git(*args):
    r = subprocess.run(["git", *args], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def committed(base, file):
    text = _git("show", f"{base}:{file}")
    return None if text is None else json.loads(text)


def current(file):
    p = Path(file)
    return json.loads(p.read_text()) if p.is_file() else None


def check(base="HEAD", path=P.PARAMS_FILE):
    """Rows (file, key, committed, now, tolerance, ok) and the tolerance used, with why."""
    recorded = committed(base, MACHINE)
    here = machine(path)
    same = recorded == here
    tolerance = SAME_MACHINE if same else OTHER_MACHINE
    why = ("this machine matches the committed run's (metrics/machine.json): exact" if same else
           f"this machine differs from the committed run's ({_difference(recorded, here)}): "
           f"+-{100 * tolerance:g} points")
    rows = []
    for file, key in gated(path):
        old, new = (committed(base, file) or {}).get(key), (current(file) or {}).get(key)
        ok = old is not None and new is not None and abs(new - old) <= tolerance + 1e-12
        rows.append((file, key, old, new, tolerance, ok))
    return rows, why


def _difference(recorded, here):
    if recorded is None:
        return "no metrics/machine.json committed"
    return "; ".join(f"{k}: {recorded.get(k)} vs {here[k]}" for k in here if recorded.get(k) != here[k])


def table(rows, why):
    lines = [f"Tolerance: {why}.", "", "| metric | committed | this run | change (points) | within |",
             "|---|---:|---:|---:|---|"]
    for file, key, old, new, _, ok in rows:
        change = "" if old is None or new is None else f"{100 * (new - old):+.2f}"
        lines.append(f"| `{file}` {key} | {_show(old)} | {_show(new)} | {change} | {'yes' if ok else '**no**'} |")
    return "\n".join(lines)


def _show(v):
    return "missing" if v is None else f"{v:.4f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="HEAD", help="the commit whose metrics are the reference (default: HEAD)")
    ap.add_argument("--summary", help="append the Markdown to this file ($GITHUB_STEP_SUMMARY)")
    ap.add_argument("--record", action="store_true", help=f"write {MACHINE} for the run about to be committed")
    args = ap.parse_args(argv)
    if args.record:
        from distill.core import files

        files.write_json(MACHINE, machine())
        print(f"gate: wrote {MACHINE}: {json.dumps(machine())}")
        return 0
    if _git("rev-parse", "--verify", "-q", args.base) is None:
        sys.exit(f"gate: no commit '{args.base}' to compare against")
    diff = subprocess.run([sys.executable, "-m", "dvc", "metrics", "diff", args.base, "--md"],
                          capture_output=True, text=True).stdout.strip() or "No metric changed."
    rows, why = check(args.base)
    bad = [r for r in rows if not r[5]]
    text = "\n".join([f"## Reproduction vs {args.base}", "", "### Headline metrics (gated)", "", table(rows, why), "",
                      "### `dvc metrics diff`", "", diff, ""])
    print(text)
    if args.summary:
        with open(args.summary, "a") as f:
            f.write(text + "\n")
    if bad:
        print(f"gate: {len(bad)} headline metric(s) moved beyond the tolerance: "
              + ", ".join(f"{f} {k}" for f, k, *_ in bad), file=sys.stderr)
        return 1
    print(f"gate: all {len(rows)} headline metrics within the tolerance")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    sys.exit(main())
