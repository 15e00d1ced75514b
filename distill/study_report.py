"""The study's summary, Markdown report and plots, built from the gathered network records.

The tables and the goals are report.py's (the same columns as the default pipeline's report); what
is the study's own: the summary's shape, the per-seed table, and the plot of each network's
distillation gain. Only stages/study_report.py runs this.
"""
from . import models, plots
from . import report as R
from .names import HARD


def records_of(networks):
    """Every student record (one per network and loss) and every kd/dkd-vs-hard test of the networks."""
    records = [s for n in networks for s in n["students"]]
    gains = {k: g for n in networks for k, g in n["kd_gain"].items()}
    return records, gains


def summarize(teacher, networks, targets, budgets, kd_goal, rows=(), deep=(), file_target=None):
    """summary.json: the teacher, for each target the smallest student reaching it, the budgets goals
    and the kd goal (report.goals), the Pareto frontier, the kd/dkd-vs-hard tests and the .dcz files."""
    records, gains = records_of(networks)
    out = {
        "teacher": R.teacher_record(teacher),
        "networks": len(networks),
        "students": len(records),
        "seeds": sorted({len(r["seeds"]) for r in records}),
        "targets": list(targets),
        **{f"smallest_at_{R.target_key(t)}": _brief(R.smallest(records, t)) for t in targets},
        "goals": R.goals(records, gains, budgets, kd_goal),
        "pareto": [r["name"] for r in R.pareto(records)],
        "kd_gain": gains,
    }
    if deep:
        files = [r for r in rows if not r["teacher"]]
        out["deep_compressed"] = [{k: d[k] for k in ("name", "seeds", "params", "bytes", "x_smaller", "accuracy",
                                                     "accuracy_before", "loss_points") if k in d} for d in deep]
        out["file_target"] = file_target
        out[f"smallest_bytes_at_{R.target_key(file_target)}"] = R.smallest(files, file_target, size="bytes")
    return out


def _brief(record):
    keys = ("name", "arch", "loss", "params", "accuracy", "accuracy_std", "accuracy_min", "val_accuracy", "seeds")
    return {k: record[k] for k in keys} if record else None


def seeds_table(records):
    """Markdown: every student, every seed: validation and test accuracy."""
    lines = ["| student | params | seed | validation | test | agreement |", "|---|---:|---:|---:|---:|---:|"]
    for r in sorted(records, key=lambda r: (r["params"], r["name"])):
        for p in r["per_seed"]:
            lines.append(f"| {r['name']} | {r['params']:,} | {p['seed']} | {p['val_accuracy']:.4f} | "
                         f"{p['accuracy']:.4f} | {p['agreement']:.4f} |")
    return "\n".join(lines)


def report(summary, networks, rows=(), deep=()):
    """The study's Markdown page."""
    s = summary
    records, _ = records_of(networks)
    t = s["teacher"]
    lines = [
        "# The study: how small can it get, and does distillation help?", "",
        f"{s['networks']} networks, {s['students']} students ({R.seeds_of(records)} each), trained from the study's "
        f"own teacher ({t['params']:,} params, test accuracy {t['accuracy']:.4f}, validation {t['val_accuracy']:.4f}). "
        "Every choice is made on the validation split; test accuracy is read once per final model. Students: mean ± "
        "sample std over seeds, and the worst seed (min).", "",
        "| smallest reaching | student | params | compression | validation | test (mean ± std) | test min |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    by_name = {r["name"]: r for r in records}
    for target in s["targets"]:
        b = s[f"smallest_at_{R.target_key(target)}"]
        if b is None:
            lines.append(f"| {target} | none reaches it | | | | | |")
            continue
        r = by_name[b["name"]]
        lines.append(f"| {target} | {r['name']} | {r['params']:,} | {models.TEACHER_PARAMS / r['params']:,.0f}x | "
                     f"{R.mean_std(r, 'val_accuracy')} | {R.mean_std(r)} | {r['accuracy_min']:.4f} |")
    lines += ["", "## Goals: the best student within each params budget, and distillation", "",
              "Within each budget the student is the one with the best mean validation accuracy; its test accuracy "
              "is then read once.", "", R.goals_table(s["goals"]), "",
              f"## Does distillation help? kd and dkd vs {HARD} (labels only), paired over seeds", "",
              "Seed s of the distilled student is paired with seed s of the hard one; the discordant test images of "
              "all pairs are pooled into one exact McNemar (binomial) test; verdict at p < 0.05 "
              "(plots/kd_gain.png).", "",
              R.kd_table(records, s["kd_gain"]) if s["kd_gain"] else "No network was trained both ways.", "",
              "## Every student (plots/frontier.png)", "", R.frontier_table(records), "",
              "Pareto frontier (no other student has fewer params and a higher mean test accuracy): "
              + ", ".join(f"`{n}`" for n in s["pareto"]) + ".", ""]
    if deep:
        b = s[f"smallest_bytes_at_{R.target_key(s['file_target'])}"]
        lines += ["## Deep Compression of the frontier (.dcz files; plots/accuracy_vs_bytes.png)", "",
                  "Each listed student, every seed: pruned, weight-shared, Huffman-coded, decoded back into a network "
                  "and that network scored (mean over seeds; bytes of the largest seed's file).", "",
                  (f"Smallest file at >= {s['file_target']}: **{b['name']}**, {b['bytes']:,} bytes, "
                   f"{b['x_smaller']:,.0f}x smaller than the teacher's float32 file, test accuracy {b['accuracy']:.4f}."
                   if b else f"No .dcz file reaches {s['file_target']}."), "",
                  R.artifacts_table(rows), "", R.deep_table(deep), ""]
    lines += ["## Every seed", "", seeds_table(records), ""]
    return "\n".join(lines) + "\n"


def kd_gain_plot(gains, kd_goal, path):
    """Each network's distillation gain over labels only (mean ± std over seed pairs, in points) vs
    params (log x), marked by verdict; the kd goal's gain and params as dashed lines."""
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    style = {"better": ("tab:green", "o"), HARD: ("tab:red", "v"), "none": ("0.5", "s")}
    shown = set()
    for key, g in sorted(gains.items(), key=lambda kv: kv[1]["params"]):
        kind = "none" if g["verdict"] == "no significant difference" else (HARD if g["verdict"].startswith(HARD)
                                                                           else "better")
        color, marker = style[kind]
        label = {"better": "distillation significantly better", HARD: f"{HARD} significantly better",
                 "none": "no significant difference"}[kind]
        ax.errorbar([g["params"]], [100 * g["mean"]], yerr=[100 * (g["std"] or 0)], fmt=marker, color=color,
                    capsize=3, label=None if kind in shown else label,
                    fillstyle="full" if g["loss"] == "kd" else "none")
        shown.add(kind)
        ax.annotate(key, (g["params"], 100 * g["mean"]), textcoords="offset points", xytext=(5, 4), fontsize=7,
                    color="0.3")
    ax.axhline(0, color="0.4", lw=0.8)
    ax.axhline(100 * kd_goal["gain"], color="tab:green", lw=0.8, ls="--",
               label=f"goal: +{100 * kd_goal['gain']:g} points")
    ax.axvline(kd_goal["params"], color="0.6", lw=0.8, ls="--", label=f"goal: under {kd_goal['params']:,} params")
    if gains:
        plots._log_x(ax)
    ax.set_xlabel("parameters (log scale); hollow: dkd, filled: kd")
    ax.set_ylabel("test accuracy gain over hard (points)")
    ax.set_title("Does distillation help? Gain over labels only, mean ± std over seed pairs")
    ax.legend(fontsize=7, loc="best")
    plots._save(fig, path)
