"""Plots people would rather look at than read: matplotlib PNGs written by the evaluate stage."""
import csv
from pathlib import Path

import numpy as np

from distill.core import files
from distill.core.names import CNN, HARD, HEAD, KD, MLP, MSE, SEP, TIED, VSEP
from distill.results.report import SEED, SEED_STUDENT, head_params, pareto, seed_records
from distill.training.models import TEACHER_CONV_PARAMS
from distill.training.scores import confusion

LOSS_STYLE = {KD: ("tab:blue", "o"), MSE: ("tab:orange", "s"), HARD: ("tab:gray", "^")}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
                         "axes.spines.right": False, "font.size": 10})
    return plt


def _log_x(ax):
    """A log x axis with plain numbers (1,000 rather than 10^3)."""
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if str(int(v))[0] in "25" and v < 1e5 else ""))


def _save(fig, path):
    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)


def _std(record):
    """A record's std of test accuracy over seeds; 0 for one seed (no bar)."""
    return record.get("accuracy_std") or 0.0


def _seeds_label(records):
    counts = sorted({len(r.get("seeds", [0])) for r in records})
    return f" (mean ± std, {counts[-1]} seeds)" if counts and counts[-1] > 1 else ""


def head_sweep(records, teacher, x_key, path):
    """Test accuracy vs params (or compression) of head students: one line per loss (mean ± one std
    over seeds when there are several), the seed beside.

    Left: the whole range, where the seed's small students collapse; right: a zoom on the top.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1]})
    heads = [r for r in records if r["arch"] == HEAD]
    seed = sorted((r[x_key], r["accuracy"], r["hidden"]) for r in seed_records())
    for ax in axes:
        for loss, (color, marker) in LOSS_STYLE.items():
            pts = sorted((r[x_key], r["accuracy"], _std(r)) for r in heads if r["loss"] == loss)
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker=marker,
                            color=color, capsize=3, label=f"{HEAD}, {loss}" + _seeds_label(heads))
        ax.plot([p[0] for p in seed], [p[1] for p in seed], "k--", marker="x", label=f"seed ({HEAD}, {MSE})")
        ax.axhline(teacher["accuracy"], color="tab:red", lw=1, ls=":", label=f"teacher {teacher['accuracy']:.4f}")
        _log_x(ax)
        ax.set_xlabel(f"parameters (incl. the teacher's {TEACHER_CONV_PARAMS:,} conv params)" if x_key == "params"
                      else "compression (teacher params / student params)")
    for x, y, h in seed:
        axes[0].annotate(f"h={h}", (x, y), textcoords="offset points", xytext=(4, -12), fontsize=8, color="0.3")
    axes[0].set_ylim(max(0.0, min(r["accuracy"] for r in heads + seed_records()) - 0.05), 1.0)
    axes[0].set_ylabel("test accuracy")
    axes[0].set_title("head students vs the seed")
    axes[1].set_ylim(0.95, 1.0)
    axes[1].set_title("zoom: accuracy >= 0.95")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Head students on the teacher's conv features: accuracy vs {x_key}")
    _save(fig, path)


ARCH_MARKER = {HEAD: "o", MLP: "s", CNN: "^", SEP: "D", TIED: "P", VSEP: "v"}
ARCH_COLOR = {HEAD: "tab:purple", MLP: "tab:orange", CNN: "tab:blue", SEP: "tab:green", TIED: "tab:red",
              VSEP: "tab:brown"}


def frontier(records, teacher, targets, path):
    """Every student: mean test accuracy over seeds vs params (log x), bars one std. Filled marks:
    distilled; hollow: labels only. Dashed lines at the accuracy `targets`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    for arch, marker in ARCH_MARKER.items():
        for distilled in (True, False):
            pts = [r for r in records if r["arch"] == arch and (r["loss"] != HARD) == distilled]
            if pts:
                ax.errorbar([r["params"] for r in pts], [r["accuracy"] for r in pts], yerr=[_std(r) for r in pts],
                            fmt="none", ecolor=ARCH_COLOR[arch], elinewidth=1, capsize=2, zorder=2)
                ax.scatter([r["params"] for r in pts], [r["accuracy"] for r in pts], marker=marker, s=38,
                           color=ARCH_COLOR[arch] if distilled else "none", edgecolors=ARCH_COLOR[arch],
                           label=f"{arch}, {'distilled' if distilled else f'labels only ({HARD})'}"
                           + _seeds_label(pts), zorder=3)
    front = pareto(records)
    ax.step([r["params"] for r in front], [r["accuracy"] for r in front], where="post", color="0.4", lw=1,
            zorder=2, label="Pareto frontier")
    for r in front:
        if r["accuracy"] >= 0.95:
            ax.annotate(r["name"], (r["params"], r["accuracy"]), textcoords="offset points", xytext=(5, -10),
                        fontsize=7, color="0.25")
    ax.scatter([teacher["params"]], [teacher["accuracy"]], marker="*", s=160, color="tab:red", zorder=4,
               label=f"teacher ({teacher['params']:,}, {teacher['accuracy']:.4f})")
    h = SEED_STUDENT
    ax.scatter([head_params(h)], [SEED[h]], marker="X", s=90, color="black", zorder=4,
               label=f"seed's student ({head_params(h):,}, {SEED[h]})")
    for level in targets:
        ax.axhline(level, color="0.6", lw=0.8, ls="--")
    _log_x(ax)
    ax.set_ylim(max(0.9, min(r["accuracy"] for r in records) - 0.005), 1.0)
    ax.set_xlabel("parameters the student needs to run (log scale)")
    ax.set_ylabel("test accuracy (mean over seeds, bars ± 1 std)")
    ax.set_title("The compression frontier: every student (points below 0.90 are off the chart)")
    ax.legend(loc="lower right", fontsize=7, ncol=2)
    _save(fig, path)


KIND_MARKERS = {"float32": "o", "int8": "^", "deep": "D"}  # by the last word of an artifact's kind


def accuracy_vs_bytes(rows, target, path):
    """Every shipped artifact (report.artifacts' rows): test accuracy vs bytes (log x), one line per
    network through its files; the teacher's files in red and larger, students' in colours; marker by
    kind (float32, int8, deep-compressed .dcz); a dashed line at the accuracy `target`."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    teachers = sorted({r["subject"] for r in rows if r["teacher"]})
    students = sorted({r["subject"] for r in rows} - set(teachers))
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    colors = {**{t: "tab:red" for t in teachers}, **{s: palette[i % len(palette)] for i, s in enumerate(students)}}
    subjects = teachers + students
    for subject in subjects:
        line = sorted((r for r in rows if r["subject"] == subject), key=lambda r: r["bytes"])
        teacher = line[0]["teacher"]
        ax.plot([r["bytes"] for r in line], [r["accuracy"] for r in line], color=colors[subject],
                lw=1.6 if teacher else 1, alpha=0.6, ls="-" if teacher else "--")
        for r in line:
            ax.scatter([r["bytes"]], [r["accuracy"]], marker=KIND_MARKERS[r["kind"].split()[-1]],
                       s=110 if teacher else 50, color=colors[subject], edgecolor="black" if teacher else "none",
                       zorder=4 if teacher else 3)
        ax.annotate(f"{subject} ({line[0]['bytes']:,} B)", (line[0]["bytes"], line[0]["accuracy"]),
                    textcoords="offset points", xytext=(7, -3), fontsize=7, color=colors[subject])
    for kind, marker in KIND_MARKERS.items():
        label = {"float32": "float32 .tflite", "int8": "int8 .tflite",
                 "deep": "deep-compressed .dcz (pruned, shared, Huffman)"}[kind]
        ax.scatter([], [], marker=marker, color="0.4", label=label)
    ax.scatter([], [], marker="s", s=90, color="tab:red", edgecolor="black", label="the teacher's files")
    ax.axhline(target, color="0.6", lw=0.8, ls="--")
    _log_x(ax)
    low, high = min(r["accuracy"] for r in rows), max(r["accuracy"] for r in rows)
    ax.set_ylim(max(0.9, low - 0.002), min(1.0005, max(high, target) + 0.002))
    ax.set_xlabel("file size in bytes (log scale)")
    ax.set_ylabel("test accuracy (.tflite in LiteRT; .dcz decoded)")
    ax.set_title("What ships: accuracy vs bytes on disk, teacher and students")
    ax.legend(loc="upper left", fontsize=8)  # small, accurate files sit low left; the teacher's high right
    _save(fig, path)


def confusion_matrix(actual, predicted, title, path):
    plt = _pyplot()
    m = confusion(actual, predicted)
    fig, ax = plt.subplots(figsize=(5.6, 5))
    shown = np.where(np.eye(10, dtype=bool), 0, m)  # colour the errors; the diagonal would drown them
    ax.imshow(shown, cmap="Reds")
    for i in range(10):
        for j in range(10):
            if m[i, j]:
                ax.text(j, i, m[i, j], ha="center", va="center", fontsize=7,
                        color="tab:green" if i == j else ("white" if shown[i, j] > shown.max() / 2 else "black"))
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.grid(False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(f"{title}\n{int(np.trace(m))}/{m.sum()} right; errors in red", fontsize=10)
    _save(fig, path)


def read_live(folder):
    """dvclive's per-epoch TSVs under folder/plots/metrics -> {metric: (steps, values)}."""
    root = Path(folder, "plots", "metrics")
    if not root.is_dir():
        raise files.missing(root)
    out = {}
    for tsv in sorted(root.rglob("*.tsv")):
        try:
            with open(tsv, newline="") as f:
                rows = list(csv.DictReader(f, delimiter="\t"))
            out[str(tsv.relative_to(root).with_suffix(""))] = (
                [int(r["step"]) + 1 for r in rows], [float(r[tsv.stem]) for r in rows])
        except (OSError, KeyError, TypeError, ValueError) as e:
            raise files.InputError(f"{tsv}: not a dvclive table of step and {tsv.stem} "
                                   f"({type(e).__name__}: {e})") from None
    return out


def training_curves(curves, path):
    """Per epoch, for each run in `curves` ({label: read_live(...)}): its training loss, and its
    accuracy on the validation split (solid) beside the training accuracy (dashed)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (label, metrics) in enumerate(curves.items()):
        color = f"C{i}"
        if "train/loss" in metrics:
            axes[0].plot(*metrics["train/loss"], marker=".", color=color, label=label)
        if "eval/accuracy" in metrics:
            axes[1].plot(*metrics["eval/accuracy"], marker=".", color=color, label=f"{label}, validation")
        if "train/accuracy" in metrics:
            axes[1].plot(*metrics["train/accuracy"], ls="--", color=color, alpha=0.6, label=f"{label}, training")
    for ax, title in zip(axes, ("training loss (each run's own loss)", "accuracy: validation (solid), training")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        if ax.get_legend_handles_labels()[0]:  # a run without that curve leaves its panel empty
            ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    _save(fig, path)
