"""The summary, tables and Markdown report that the evaluate stage builds from every record.

Kept apart from evaluation.py, which the training stages run: changing a table here reruns only
`evaluate`, never a student.
"""
import csv
import functools
from pathlib import Path

from distill.core import files, paths
from distill.core.names import ARCHS, DKD, HARD, HEAD, KD, LOSSES, MSE, TEACHER, TFLITE_KINDS, StudentSpec
from distill.training import models

# The seed's published sweep: head students, MSE on logits, hidden h -> test accuracy.
SEED = {2: 0.4211, 3: 0.7185, 4: 0.9199, 5: 0.9423, 6: 0.9626, 7: 0.9699}
SEED_STUDENT = 6  # the seed's own student: head h=6
SEED_EPOCHS = 40  # how long the seed trained each of them
STANDALONE = tuple(a for a in ARCHS if a != HEAD)  # families that need no part of the teacher
TEACHING = (KD, DKD)  # the losses tested against labels only (hard) for significance


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
            "accuracy": teacher["accuracy"], "val_accuracy": teacher["val_accuracy"], "compression": 1.0,
            "agreement": 1.0}


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


def gain_key(net, loss):
    """kd_gain's key: the network for kd (sep-8-24-2), the network and loss for others (sep-8-24-2 dkd)."""
    return net if loss == KD else f"{net} {loss}"


def kd_gain(records, predictions, labels):
    """For every network trained with a distillation loss (kd, dkd) and with `hard` (labels only):
    the distillation loss's mean test accuracy gain over seeds, its spread, and the paired
    significance test and verdict (stats.kd_vs_hard). `predictions` maps a record's name to its
    (seeds, images) test predictions."""
    from distill.results import stats

    by = {(network(r), r["loss"]): r for r in records}
    nets = sorted({n for n, _ in by}, key=lambda n: min(r["params"] for r in records if network(r) == n))
    return {gain_key(n, loss): {"network": n, "params": by[(n, HARD)]["params"], **stats.kd_vs_hard(
                (by[(n, loss)], predictions[by[(n, loss)]["name"]]),
                (by[(n, HARD)], predictions[by[(n, HARD)]["name"]]), labels, loss)}
            for n in nets for loss in TEACHING if (n, loss) in by and (n, HARD) in by}


def within_budget(records, max_params):
    """The standalone student with at most `max_params` params that validation prefers (highest
    mean validation accuracy; test plays no part in the choice), or None."""
    fits = [r for r in records if r["arch"] in STANDALONE and r["params"] <= max_params]
    return max(fits, key=lambda r: (r["val_accuracy"], -r["params"])) if fits else None


def goals(records, kd_gains, budgets, kd_goal):
    """summary.json's `goals`: for each budget {params, target}, the student validation picks within
    it and whether its mean test accuracy reaches the target; and the networks under
    kd_goal["params"] where distillation beats labels only significantly by >= kd_goal["gain"]."""
    out = {"budgets": []}
    for b in budgets:
        best = within_budget(records, b["params"])
        out["budgets"].append({
            "params": b["params"], "target": b["target"], "student": best and best["name"],
            "student_params": best and best["params"], "val_accuracy": best and best["val_accuracy"],
            "accuracy": best and best["accuracy"], "accuracy_std": best and best.get("accuracy_std"),
            "met": bool(best and best["accuracy"] >= b["target"])})
    wins = [k for k, g in kd_gains.items() if g["params"] < kd_goal["params"]
            and g["verdict"] == f"{g['loss']} better" and g["mean"] >= kd_goal["gain"]]
    out["kd"] = {**kd_goal, "winners": wins, "met": len(wins) >= kd_goal["networks"]}
    return out


def pareto(records):
    """The records no other record beats on both params (fewer) and accuracy (higher)."""
    front, best = [], -1.0
    for r in sorted(records, key=lambda r: (r["params"], -r["accuracy"])):
        if r["accuracy"] > best:
            front.append(r)
            best = r["accuracy"]
    return front


def tflite_files(record):
    """Each .tflite file of a compress (or teacher_tflite) record: (kind, file name, its figures)."""
    return [(kind, Path(paths.tflite(record["name"], kind)).name, record[kind]) for kind in TFLITE_KINDS]


def compressed_files(compressed):
    """One row per .tflite file (float32 and int8 of each compressed student)."""
    return [{"name": f"{r['name']}-{kind}", "student": r["name"], "arch": r["arch"], "kind": kind,
             "sparsity": r["sparsity"], "accuracy": f["accuracy"], "bytes": f["bytes"],
             "gzip_bytes": f["gzip_bytes"], "ratio": f["bytes_ratio"], "gzip_ratio": f["gzip_ratio"]}
            for r in compressed for kind, _, f in tflite_files(r)]


DEEP = "deep"  # the kind of a .dcz file: pruned, weight-shared, Huffman-coded (codec.py)
PRUNED = "pruned"


def artifacts(compressed, teacher_tflite, deep):
    """One row per file a user could ship: the teacher's float32 and int8 .tflite files and its .dcz
    file, each compressed student's pruned float32 and int8 .tflite files, each deep-compressed
    student's .dcz files (accuracy: mean over seeds of the decoded networks; bytes: the largest seed's)."""
    reference = teacher_tflite[TFLITE_KINDS[0]]["bytes"]
    rows = []

    def add(file, subject, kind, accuracy, size, seeds=1):
        rows.append({"name": file, "subject": subject, "teacher": subject == TEACHER,
                     "kind": kind, "seeds": seeds, "accuracy": accuracy, "bytes": size,
                     "x_smaller": round(reference / size, 1)})

    for r in [teacher_tflite, *compressed]:
        for kind, file, f in tflite_files(r):
            add(file, r["name"], kind if r is teacher_tflite else f"{PRUNED} {kind}", f["accuracy"], f["bytes"])
    for r in deep:
        add(f"{r['name']}.dcz", r["name"], DEEP, r["accuracy"], r["bytes"], seeds=len(r["seeds"]))
    return rows


def deep_goals(deep, rows, goal, file_target):
    """Issue 14's goals: the teacher deep-compressed >= goal['teacher_ratio'] x smaller than its
    float32 file with <= goal['teacher_loss'] test-accuracy loss; a file reaching `file_target`
    (decoded, mean over seeds) >= goal['file_ratio'] x smaller."""
    teacher = next((r for r in deep if r["name"] == TEACHER), None)
    best = smallest(rows, file_target, size="bytes")
    out = []
    if teacher is not None:
        loss = round(teacher["accuracy_before"] - teacher["accuracy"], 6)
        out.append({"goal": f"teacher >= {goal['teacher_ratio']:g}x smaller, loss <= {100 * goal['teacher_loss']:g} "
                            "points", "bytes": teacher["bytes"], "x_smaller": teacher["x_smaller"],
                    "accuracy_before": teacher["accuracy_before"], "accuracy": teacher["accuracy"],
                    "loss_points": round(100 * loss, 3),
                    "met": teacher["x_smaller"] >= goal["teacher_ratio"] and loss <= goal["teacher_loss"] + 1e-9})
    out.append({"goal": f"a file at >= {file_target} that is >= {goal['file_ratio']:g}x smaller",
                "file": best and best["name"], "bytes": best and best["bytes"],
                "x_smaller": best and best["x_smaller"], "accuracy": best and best["accuracy"],
                "met": bool(best) and best["x_smaller"] >= goal["file_ratio"]})
    return out


def summarize(teacher, student, records, targets, file_target, kd_gains, compressed=(), goal_list=None,
              files_list=None, deep_goal_list=None):
    """summary.json: the teacher, the headline student, for each accuracy target the student with
    the fewest params whose mean test accuracy over seeds reaches it (smallest_at_99, ...; its
    accuracy_min beside), `kd_gains` (from kd_gain), and the smallest file reaching `file_target`
    (smallest_bytes_at_99) among `files_list` (artifacts' rows; the .tflite files if not given)."""
    everyone = records + [student]
    if files_list is None and compressed:
        files_list = compressed_files(compressed)
    return {
        "teacher": teacher_record(teacher),
        "student": student,
        "targets": list(targets),
        **{f"smallest_at_{target_key(t)}": smallest(everyone, t) for t in targets},
        "kd_gain": kd_gains,
        **({"goals": goal_list} if goal_list is not None else {}),
        **({"file_target": file_target, f"smallest_bytes_at_{target_key(file_target)}":
            smallest(files_list, file_target, size="bytes")} if files_list else {}),
        **({"deep_goals": deep_goal_list} if deep_goal_list is not None else {}),
    }


# --- tables and plots ----------------------------------------------------------------------------


def write_csv(path, rows, columns):
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def mean_std(record, key="accuracy"):
    """0.9898 ± 0.0012 over seeds; the bare mean for one seed."""
    std = record.get(f"{key}_std")
    return f"{record[key]:.4f} ± {std:.4f}" if std is not None else f"{record[key]:.4f}"


def seeds_of(records):
    """How many seeds the records were trained over: "3 seeds", "1 seed", "1-3 seeds"."""
    counts = sorted({len(r.get("seeds", [0])) for r in records})
    if not counts:
        return "no records"
    shown = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{shown} seed{'s' if counts[-1] > 1 else ''}"


def below_seed(records):
    """The head widths where the mse student (the seed's loss) stays below the seed's published
    accuracy: (hidden, ours on test, ours on validation, seed's)."""
    mse = {r["hidden"]: r for r in records if r["arch"] == HEAD and r["loss"] == MSE}
    return [(h, mse[h]["accuracy"], mse[h]["val_accuracy"], SEED[h]) for h in sorted(SEED)
            if h in mse and mse[h]["accuracy"] < SEED[h]]


def head_table(records):
    """Markdown: hidden x loss -> test accuracy (mean ± std over seeds) for the head sweep, beside
    the seed's numbers, and the mean gain of each distillation loss over labels only."""
    heads = [r for r in records if r["arch"] == HEAD]
    hiddens = sorted({r["hidden"] for r in heads})
    loss_names = [loss for loss in LOSSES if any(r["loss"] == loss for r in heads)]
    by = {(r["hidden"], r["loss"]): r for r in heads}
    gains = [loss for loss in (KD, MSE) if loss in loss_names and HARD in loss_names]
    lines = [f"| hidden | params | compression | seed ({MSE}) | " + " | ".join(loss_names)
             + "".join(f" | {loss} - {HARD}" for loss in gains) + " | validation (" + ", ".join(loss_names) + ") |",
             "|---:|---:|---:|---:|" + "---:|" * (len(loss_names) + len(gains)) + "---:|"]
    for h in hiddens:
        cells = [mean_std(by[(h, loss)]) if (h, loss) in by else "" for loss in loss_names]
        cells += [f"{by[(h, loss)]['accuracy'] - by[(h, HARD)]['accuracy']:+.4f}"
                  if (h, loss) in by and (h, HARD) in by else "" for loss in gains]
        val = ", ".join(f"{by[(h, loss)]['val_accuracy']:.4f}" if (h, loss) in by else "-" for loss in loss_names)
        seed = f"{SEED[h]:.4f}" if h in SEED else ""
        lines.append(f"| {h} | {head_params(h):,} | {models.TEACHER_PARAMS / head_params(h):.1f}x | {seed} | "
                     + " | ".join(cells) + f" | {val} |")
    return "\n".join(lines)


def kd_table(records, kd_gains):
    """Markdown: each network trained with a distillation loss and with labels only: test accuracy
    over seeds, the mean gain and its spread, the paired test's p-value and the verdict."""
    by = {(network(r), r["loss"]): r for r in records}
    lines = [f"| network | loss | params | compression | seeds | with the teacher | {HARD} | gain (mean ± std) | "
             f"images only the teacher's student / only {HARD} gets right | p | verdict |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for g in kd_gains.values():
        kd, hard = by[(g["network"], g["loss"])], by[(g["network"], HARD)]
        spread = f"{g['mean']:+.4f} ± {g['std']:.4f}" if g["std"] is not None else f"{g['mean']:+.4f}"
        lines.append(f"| {g['network']} | {g['loss']} | {kd['params']:,} | "
                     f"{models.TEACHER_PARAMS / kd['params']:.0f}x | {g['seed_pairs']} | {mean_std(kd)} | "
                     f"{mean_std(hard)} | {spread} | "
                     f"{g['kd_only_right']} / {g['hard_only_right']} | {g['p_value']:.3g} | {g['verdict']} |")
    return "\n".join(lines)


def goals_table(goal_list):
    """Markdown: each params budget's student (chosen on validation) against its target, and the
    distillation goal."""
    lines = ["| budget | target | student (chosen on validation) | params | validation | test (mean ± std) | met |",
             "|---:|---:|---|---:|---:|---:|---|"]
    for b in goal_list["budgets"]:
        if b["student"] is None:
            lines.append(f"| <= {b['params']:,} | {b['target']} | none within the budget | | | | no |")
            continue
        test = mean_std({"accuracy": b["accuracy"], "accuracy_std": b["accuracy_std"]})
        short = "" if b["met"] else f" ({100 * (b['target'] - b['accuracy']):.2f} points short)"
        lines.append(f"| <= {b['params']:,} | {b['target']} | {b['student']} | {b['student_params']:,} | "
                     f"{b['val_accuracy']:.4f} | {test} | {'yes' if b['met'] else 'no' + short} |")
    k = goal_list["kd"]
    lines += ["", f"Distillation significantly better than labels only by >= {100 * k['gain']:.1f} points on "
              f">= {k['networks']} networks under {k['params']:,} params: "
              + ("**met**" if k["met"] else "**not met**") + " ("
              + (", ".join(k["winners"]) if k["winners"] else "no network") + ")."]
    return "\n".join(lines)


def frontier_table(records):
    """Markdown: each standalone student: params, validation and test accuracy over seeds."""
    lines = ["| student | params | compression | seeds | validation | test (mean ± std) | test min | agreement |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted((r for r in records if r["arch"] in STANDALONE), key=lambda r: (r["params"], r["loss"])):
        lines.append(f"| {r['name']} | {r['params']:,} | {r['compression']:.0f}x | {len(r['seeds'])} | "
                     f"{mean_std(r, 'val_accuracy')} | {mean_std(r)} | {r['accuracy_min']:.4f} | "
                     f"{r['agreement']:.4f} |")
    return "\n".join(lines)


def compress_table(compressed, teacher_tflite):
    """Markdown: each compressed student's files: accuracy, bytes, ratios (latency, wall-clock, is in
    metrics/timing/compress-<name>.json, kept out of every tracked output)."""
    t = teacher_tflite[TFLITE_KINDS[0]]
    lines = ["| file | sparsity | test accuracy | bytes | gzip bytes | x smaller (bytes) | x smaller (gzip) |",
             "|---|---:|---:|---:|---:|---:|---:|",
             f"| teacher ({TFLITE_KINDS[0]}) | 0 | {t['accuracy']:.4f} | {t['bytes']:,} | {t['gzip_bytes']:,} | 1 | "
             f"{t['bytes'] / t['gzip_bytes']:.1f} |"]
    for r in compressed:
        for kind, _, f in tflite_files(r):
            lines.append(f"| {r['name']} ({kind}) | {r['sparsity']:.2f} | {f['accuracy']:.4f} | {f['bytes']:,} | "
                         f"{f['gzip_bytes']:,} | {f['bytes_ratio']:.0f} | {f['gzip_ratio']:.0f} |")
    return "\n".join(lines)


def artifacts_table(rows):
    """Markdown: every shipped artifact, biggest first."""
    lines = ["| file | of | kind | seeds | test accuracy | bytes | x smaller than the teacher's float32 file |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: -r["bytes"]):
        lines.append(f"| {r['name']} | {r['subject']} | {r['kind']} | {r['seeds']} | {r['accuracy']:.4f} | "
                     f"{r['bytes']:,} | {r['x_smaller']:,.1f} |")
    return "\n".join(lines)


def deep_table(deep):
    """Markdown: each deep-compressed network: recipe, validation after each step, test, bytes by part."""
    lines = ["| network | seeds | sparsity | bits (conv/dense/output) | validation: before, pruned, k-means, decoded | "
             "test: before -> decoded | bytes (max) | positions | indices | floats | before Huffman |",
             "|---|---:|---:|---|---|---|---:|---:|---:|---:|---:|"]
    for r in deep:
        runs = r["per_seed"]

        def mean(key, runs=runs):
            return sum(run[key] if key in run else run["sizes"][key] for run in runs) / len(runs)

        b = r["recipe"]["bits"]
        lines.append(
            f"| {r['name']} | {len(runs)} | {mean('sparsity'):.3f} | {b['conv']}/{b['dense']}/{b['output']} | "
            f"{mean('val_accuracy_before'):.4f}, {mean('val_accuracy_pruned'):.4f}, {mean('val_accuracy_kmeans'):.4f}, "
            f"{mean('val_accuracy'):.4f} | {r['accuracy_before']:.4f} -> {mean_std(r)} | {r['bytes']:,} | "
            + " | ".join(f"{round(mean(part)):,}" for part in ("gaps", "indices", "floats", "before_huffman")) + " |")
    return "\n".join(lines)


def deep_goals_table(goal_list):
    lines = ["| goal | file | bytes | x smaller | test accuracy | met |", "|---|---|---:|---:|---:|---|"]
    for g in goal_list:
        acc = (f"{g['accuracy_before']:.4f} -> {g['accuracy']:.4f} (-{g['loss_points']:.2f} points)"
               if "loss_points" in g else (f"{g['accuracy']:.4f}" if g["accuracy"] is not None else ""))
        lines.append(f"| {g['goal']} | {g.get('file') or TEACHER + '.dcz'} | "
                     f"{g['bytes']:,} | {g['x_smaller']:,.1f} | {acc} | {'yes' if g['met'] else '**no**'} |"
                     if g["bytes"] is not None else f"| {g['goal']} | none reaches the accuracy | | | | **no** |")
    return "\n".join(lines)


def _row(label, r):
    if r is None:
        return f"| {label} | none reaches it | | | | | |"
    low = f"{r['accuracy_min']:.4f}" if "accuracy_min" in r else ""
    return (f"| {label} | {r['params']:,} | {r['compression']:.1f}x | {r['val_accuracy']:.4f} | {mean_std(r)} | "
            f"{low} | {r['agreement']:.4f} |")


def trials(rows, max_params):
    """The validation trials (bench/tuning.json rows) of standalone networks under `max_params`."""
    out = []
    for row in rows:
        arch, _, rest = row["name"].partition("-")
        widths, _, loss = rest.rpartition("-")
        if arch in STANDALONE and models.student_params(arch, tuple(map(int, widths.split("-")))) < max_params:
            out.append(row)
    return out


def trials_table(rows):
    """Markdown: each trial: student, what changed from the defaults of its day, validation accuracy."""
    lines = ["| student | changed | epochs | seeds | validation (mean) | per seed | seconds |",
             "|---|---|---:|---:|---:|---|---:|"]
    for r in rows:
        changed = ", ".join(f"{k}={v}" for k, v in r["changed"].items()) or "(defaults)"
        lines.append(f"| {r['name']} | {changed} | {r['train']['epochs']} | {len(r['val_accuracy'])} | "
                     f"{r['val_accuracy_mean']:.4f} | {', '.join(f'{a:.4f}' for a in r['val_accuracy'])} | "
                     f"{r['seconds']:.0f} |")
    return "\n".join(lines)


def report(summary, records, compressed=(), teacher_tflite=None, trial_rows=(), rows=(), deep=()):
    """A Markdown page: the headline numbers, then every table, for people and CI job summaries."""
    s = summary
    heads = [r for r in records if r["arch"] == HEAD]
    standalone = [r for r in records if r["arch"] in STANDALONE]
    short = below_seed(records)
    lines = [
        "# Results", "",
        "Every choice was made on the validation split (the last training images, held out); test accuracy is "
        "scored once per final model. Students: mean ± sample std over seeds, and the worst seed (min).", "",
        "| | params | compression | validation | test accuracy | test min | agreement with teacher |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _row("teacher", s["teacher"]),
        _row(f"headline student {s['student']['name']} ({seeds_of([s['student']])})", s["student"]),
        *[_row(f"smallest at {t}: " + (s[f"smallest_at_{target_key(t)}"] or {}).get("name", ""),
               s[f"smallest_at_{target_key(t)}"]) for t in s["targets"]],
        *(["", "## Goals: the best student within each params budget", "",
            "Within each budget the student is the one with the best mean validation accuracy; its test "
            "accuracy is then read once.", "", goals_table(s["goals"])] if "goals" in s else []),
        "", f"## Does distillation help? {KD} and {DKD} vs {HARD} (labels only), paired over seeds", "",
        "Seed s of the distilled student is paired with seed s of the hard one; the discordant test images of "
        "all pairs are pooled into one exact McNemar (binomial) test; verdict at p < 0.05.", "",
        kd_table(records, s["kd_gain"]), "",
        f"## Standalone students from raw pixels ({seeds_of(standalone)})", "",
        frontier_table(records), "",
        f"## Head students (the seed's family) vs the seed ({seeds_of(heads)} per point"
        + ("; the budget keeps this grid at one seed" if seeds_of(heads) == "1 seed" else "") + ")", "",
        head_table(records), "",
    ]
    if short:
        lines += ["Below the seed with its own loss (mse): " + "; ".join(
            f"h={h}: {ours:.4f} (validation {val:.4f}) vs the seed's {seed:.4f}" for h, ours, val, seed in short)
            + f". The seed trained {SEED_EPOCHS} epochs from its own teacher; on validation, {SEED_EPOCHS} epochs, "
            "other learning rates and batch sizes, and zero-meaned logits did not close the gap with this teacher "
            "(docs/results-history.md, \"The seed's table\", has each trial's numbers), while kd and hard at the "
            "same widths do far better: mse through a 3- or 4-unit bottleneck spends it on reproducing the "
            "teacher's logits, not on separating the classes.", ""]
    elif heads:
        lines += [f"The mse column matches or beats the seed's published accuracy at every h in "
                  f"{min(SEED)}..{max(SEED)} that the grid holds.", ""]
    if rows:
        t = s["file_target"]
        b = s[f"smallest_bytes_at_{target_key(t)}"]
        lines += ["## Every shipped artifact: teacher and students, float32, int8, pruned, deep-compressed", "",
                  ".tflite files run in LiteRT's interpreter; a .dcz file (pruned, weight-shared, Huffman-coded: "
                  "docs/deep-compression.md) is decoded back into a network, and that network is scored. "
                  "Pruned .tflite files come from a student's first seed; .dcz files from every seed (mean "
                  "accuracy, largest file).", "",
                  (f"Smallest file at >= {t}: **{b['name']}**, {b['bytes']:,} bytes, {b['x_smaller']:,.0f}x smaller "
                   f"than the teacher's float32 file, test accuracy {b['accuracy']:.4f}." if b
                   else f"No file reaches {t}."), "",
                  artifacts_table(rows), ""]
        if "deep_goals" in s:
            lines += ["### Goals", "", deep_goals_table(s["deep_goals"]), ""]
        if deep:
            lines += ["### Deep Compression step by step (validation chose the recipes; test read once at the end)",
                      "", deep_table(deep), ""]
        if compressed:
            lines += ["### Pruned .tflite files: bytes and gzip", "", compress_table(compressed, teacher_tflite), ""]
    if trial_rows:
        lines += ["## What was tried on validation (bench/tune.py, bench/tuning.json)", "",
                  "Each row trained on the training split and was scored on the validation split only.", "",
                  trials_table(trial_rows), ""]
    return "\n".join(lines) + "\n"
