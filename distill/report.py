"""The summary, tables and Markdown report that the evaluate stage builds from every record.

Kept apart from evaluation.py, which the training stages run: changing a table here reruns only
`evaluate`, never a student.
"""
import csv
import functools

from . import files, models
from .names import ARCHS, HARD, HEAD, KD, LOSSES, MSE, TEACHER, TFLITE_KINDS, StudentSpec

# The seed's published sweep: head students, MSE on logits, hidden h -> test accuracy.
SEED = {2: 0.4211, 3: 0.7185, 4: 0.9199, 5: 0.9423, 6: 0.9626, 7: 0.9699}
SEED_STUDENT = 6  # the seed's own student: head h=6
STANDALONE = tuple(a for a in ARCHS if a != HEAD)  # families that need no part of the teacher


@functools.cache
def head_params(hidden):
    """Params of a seed-style head student, counting the teacher's conv layers it runs on."""
    return models.student_params(HEAD, (hidden,))


def seed_records():
    return [
        {"name": f"seed-{StudentSpec(HEAD, (h,), MSE).name}", "arch": HEAD, "hidden": h, "widths": [h], "loss": MSE,
         "params": head_params(h), "accuracy": acc, "compression": round(models.TEACHER_PARAMS / head_params(h), 2)}
        for h, acc in SEED.items()
    ]


def teacher_record(teacher):
    return {"name": TEACHER, "arch": TEACHER, "hidden": None, "loss": HARD, "params": teacher["params"],
            "accuracy": teacher["accuracy"], "compression": 1.0, "agreement": 1.0}


def target_key(target):
    """The summary key of an accuracy target: 0.99 -> "99", 0.995 -> "99_5"."""
    return f"{100 * target:.10g}".replace(".", "_")


def smallest(records, target, size="params"):
    """The record with the least `size` (params, or bytes for files) whose accuracy reaches `target`
    (None if none does); on a tie, the more accurate."""
    hits = [r for r in records if r["accuracy"] >= target]
    return min(hits, key=lambda r: (r[size], -r["accuracy"])) if hits else None


def network(record):
    """The network without its loss: head-6, cnn-8-16-32."""
    return StudentSpec(record["arch"], tuple(record["widths"]), record["loss"]).network


def kd_gain(records, archs=STANDALONE):
    """Accuracy of `kd` minus `hard` (labels only) for each standalone network trained both ways."""
    acc = {(network(r), r["loss"]): r["accuracy"] for r in records if r["arch"] in archs}
    nets = sorted({n for n, _ in acc}, key=lambda n: min(r["params"] for r in records if network(r) == n))
    return {n: round(acc[(n, KD)] - acc[(n, HARD)], 6) for n in nets if (n, KD) in acc and (n, HARD) in acc}


def pareto(records):
    """The records no other record beats on both params (fewer) and accuracy (higher)."""
    front, best = [], -1.0
    for r in sorted(records, key=lambda r: (r["params"], -r["accuracy"])):
        if r["accuracy"] > best:
            front.append(r)
            best = r["accuracy"]
    return front


def compressed_files(compressed):
    """One row per .tflite file (float32 and int8 of each compressed student)."""
    rows = []
    for r in compressed:
        for kind in TFLITE_KINDS:
            f = r[kind]
            rows.append({"name": f"{r['name']}-{kind}", "student": r["name"], "arch": r["arch"], "kind": kind,
                         "sparsity": r["sparsity"], "accuracy": f["accuracy"], "bytes": f["bytes"],
                         "gzip_bytes": f["gzip_bytes"], "ratio": f["bytes_ratio"], "gzip_ratio": f["gzip_ratio"]})
    return rows


def summarize(teacher, student, records, targets, file_target, compressed=()):
    """summary.json: the teacher, the headline student, for each accuracy target the student with
    the fewest params reaching it (smallest_at_99, ...), kd_gain, and the smallest file reaching
    `file_target` (smallest_bytes_at_99)."""
    everyone = records + [student]
    return {
        "teacher": teacher_record(teacher),
        "student": student,
        "targets": list(targets),
        **{f"smallest_at_{target_key(t)}": smallest(everyone, t) for t in targets},
        "kd_gain": kd_gain(records),
        **({"file_target": file_target, f"smallest_bytes_at_{target_key(file_target)}":
            smallest(compressed_files(compressed), file_target, size="bytes")} if compressed else {}),
    }


# --- tables and plots ----------------------------------------------------------------------------


def write_csv(path, rows, columns):
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def head_table(records):
    """Markdown: hidden x loss -> accuracy for the head sweep, beside the seed's numbers."""
    heads = [r for r in records if r["arch"] == HEAD]
    hiddens = sorted({r["hidden"] for r in heads})
    loss_names = [loss for loss in LOSSES if any(r["loss"] == loss for r in heads)]
    acc = {(r["hidden"], r["loss"]): r["accuracy"] for r in heads}
    gains = [loss for loss in (KD, MSE) if loss in loss_names and HARD in loss_names]
    lines = [f"| hidden | params | compression | seed ({MSE}) | " + " | ".join(loss_names)
             + "".join(f" | {loss} - {HARD}" for loss in gains) + " |",
             "|---:|---:|---:|---:|" + "---:|" * (len(loss_names) + len(gains))]
    for h in hiddens:
        cells = [f"{acc[(h, loss)]:.4f}" if (h, loss) in acc else "" for loss in loss_names]
        cells += [f"{acc[(h, loss)] - acc[(h, HARD)]:+.4f}" if (h, loss) in acc and (h, HARD) in acc else ""
                  for loss in gains]
        seed = f"{SEED[h]:.4f}" if h in SEED else ""
        lines.append(f"| {h} | {head_params(h):,} | {models.TEACHER_PARAMS / head_params(h):.1f}x | {seed} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def frontier_table(records):
    """Markdown: each standalone network, its params, kd vs hard accuracy and the gain."""
    rows = {}
    for r in records:
        if r["arch"] in STANDALONE:
            rows.setdefault(network(r), {"params": r["params"]})[r["loss"]] = r["accuracy"]
    lines = [f"| network | params | compression | {KD} | {HARD} | {KD} - {HARD} |", "|---|---:|---:|---:|---:|---:|"]
    for net, row in sorted(rows.items(), key=lambda kv: kv[1]["params"]):
        kd, hard = row.get(KD), row.get(HARD)
        cell = lambda v: f"{v:.4f}" if v is not None else ""  # noqa: E731
        gain = f"{kd - hard:+.4f}" if kd is not None and hard is not None else ""
        lines.append(f"| {net} | {row['params']:,} | {models.TEACHER_PARAMS / row['params']:.0f}x | {cell(kd)} | "
                     f"{cell(hard)} | {gain} |")
    return "\n".join(lines)


def compress_table(compressed, teacher_tflite):
    """Markdown: each compressed student's files: accuracy, bytes, ratios, latency."""
    t = teacher_tflite[TFLITE_KINDS[0]]
    lines = ["| file | sparsity | test accuracy | bytes | gzip bytes | x smaller (bytes) | x smaller (gzip) | "
             "ms/image batch 1 | ms/image batch 1000 | x faster batch 1 | x faster batch 1000 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| teacher ({TFLITE_KINDS[0]}) | 0 | {t['accuracy']:.4f} | {t['bytes']:,} | {t['gzip_bytes']:,} | 1 | "
             f"{t['bytes'] / t['gzip_bytes']:.1f} | "
             + (f"{compressed[0]['teacher_ms_batch1']:.4f} | {compressed[0]['teacher_ms_batch1000']:.4f} | 1 | 1 |"
                if compressed else "| | | |")]
    for r in compressed:
        for kind in TFLITE_KINDS:
            f = r[kind]
            lines.append(f"| {r['name']} ({kind}) | {r['sparsity']:.2f} | {f['accuracy']:.4f} | {f['bytes']:,} | "
                         f"{f['gzip_bytes']:,} | {f['bytes_ratio']:.0f} | {f['gzip_ratio']:.0f} | "
                         f"{f['ms_batch1']:.4f} | {f['ms_batch1000']:.4f} | {f['speedup_batch1']:.1f} | "
                         f"{f['speedup_batch1000']:.1f} |")
    return "\n".join(lines)


def _row(label, r):
    if r is None:
        return f"| {label} | none reaches it | | | |"
    return f"| {label} | {r['params']:,} | {r['compression']:.1f}x | {r['accuracy']:.4f} | {r['agreement']:.4f} |"


def report(summary, records, compressed=(), teacher_tflite=None):
    """A Markdown page: the headline numbers, then every table, for people and CI job summaries."""
    s = summary
    lines = [
        "# Results", "",
        "| | params | compression | test accuracy | agreement with teacher |", "|---|---:|---:|---:|---:|",
        _row("teacher", s["teacher"]),
        _row(f"headline student {s['student']['name']}", s["student"]),
        *[_row(f"smallest at {t}: " + (s[f"smallest_at_{target_key(t)}"] or {}).get("name", ""),
               s[f"smallest_at_{target_key(t)}"]) for t in s["targets"]],
        "", "## Standalone students from raw pixels: distilled (kd) vs labels only (hard)", "",
        frontier_table(records), "",
        "## Head students (the seed's family) vs the seed", "", head_table(records), "",
    ]
    if compressed:
        t = s["file_target"]
        b = s[f"smallest_bytes_at_{target_key(t)}"]
        lines += ["## Deployable files: pruned, int8, measured in the TFLite interpreter", "",
                  (f"Smallest file at >= {t}: **{b['name']}**, {b['bytes']:,} bytes ({b['ratio']:.0f}x smaller "
                   f"than the teacher's float32 file; {b['gzip_bytes']:,} gzipped, {b['gzip_ratio']:.0f}x), "
                   f"accuracy {b['accuracy']:.4f}." if b else f"No file reaches {t}."), "",
                  compress_table(compressed, teacher_tflite), ""]
    return "\n".join(lines) + "\n"
