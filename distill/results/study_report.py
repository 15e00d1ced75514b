"""The study's summary, Markdown report and plots, built from the gathered network records.

The tables and the goals are report.py's (the same columns as the default pipeline's report); what
is the study's own: the summary's shape, the per-seed table, and the plot of each network's
distillation gain. Only stages/study_report.py runs this.
"""
import numpy as np

from distill.core.names import HARD
from distill.results import plots
from distill.results import report as R
from distill.training import models


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
        "chosen": {n["network"]: n["chosen"] for n in networks},
        "gain_curve": [{k: g[k] for k in ("network", "params", "loss", "epochs", "mean", "std", "ci_seeds",
                                          "ci_images", "p_value", "verdict")} for g in curve_of(networks)],
    }
    if deep:
        files = [r for r in rows if not r["teacher"]]
        out["deep_compressed"] = [{k: d[k] for k in ("name", "seeds", "params", "bytes", "x_smaller", "accuracy",
                                                     "accuracy_before", "loss_points") if k in d} for d in deep]
        out["file_target"] = file_target
        out[f"smallest_bytes_at_{R.target_key(file_target)}"] = R.smallest(files, file_target, size="bytes")
    return out


def curve_of(networks):
    """Every network's gain curve (gather.gain_curve), one list, by params then loss then schedule."""
    return sorted((g for n in networks for g in n.get("gain_curve", [])),
                  key=lambda g: (g["params"], g["network"], g["loss"], g["epochs"]))


def trials_table(networks):
    """Markdown: every trial (network x loss x schedule): the validation mean that chose, then test."""
    lines = ["| network | params | loss | epochs | validation (mean ± std) | chosen | test (mean ± std) | test min |",
             "|---|---:|---|---:|---:|:---:|---:|---:|"]
    for n in sorted(networks, key=lambda n: n["params"]):
        for r in n["trials"]:
            mark = "yes" if n["chosen"][r["loss"]] == r["epochs"] else ""
            lines.append(f"| {n['network']} | {n['params']:,} | {r['loss']} | {r['epochs']} | "
                         f"{R.mean_std(r, 'val_accuracy')} | {mark} | {R.mean_std(r)} | {r['accuracy_min']:.4f} |")
    return "\n".join(lines)


def curve_table(curve):
    """Markdown: the gain curve, in points: mean over seed pairs, both 95% intervals, the paired test."""
    def ci(pair):
        return "n/a" if pair is None else f"[{100 * pair[0]:+.2f}, {100 * pair[1]:+.2f}]"

    lines = ["| network | params | loss | epochs | gain (points) | 95% CI, seeds (t) | 95% CI, test images | p "
             "| verdict |",
             "|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for g in curve:
        lines.append(f"| {g['network']} | {g['params']:,} | {g['loss']} | {g['epochs']} | {100 * g['mean']:+.2f} | "
                     f"{ci(g['ci_seeds'])} | {ci(g['ci_images'])} | {g['p_value']:.3g} | {g['verdict']} |")
    return "\n".join(lines)


def gain_curve_plot(curve, kd_goal, path):
    """Distillation's gain over labels only against the schedule (epochs, log x), one line per network
    and loss: mean over seed pairs, shaded by the seeds' 95% interval, bars for the test images' one."""
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    lines = {}
    for g in curve:
        lines.setdefault((g["params"], g["network"], g["loss"]), []).append(g)
    for i, ((params, network, loss), points) in enumerate(sorted(lines.items())):
        color = plt.get_cmap("tab10")(i % 10)
        x = [g["epochs"] for g in points]
        y = [100 * g["mean"] for g in points]
        err = [[max(0.0, 100 * (g["mean"] - g["ci_images"][0])) for g in points],  # rounding can put the mean
               [max(0.0, 100 * (g["ci_images"][1] - g["mean"])) for g in points]]  # a hair outside

        ax.errorbar(x, y, yerr=err, fmt="-o" if loss == "kd" else "--s", color=color, capsize=3,
                    label=f"{network} ({params:,} params), {loss}")
        seeds = [g["ci_seeds"] for g in points]
        if all(s is not None for s in seeds):
            ax.fill_between(x, [100 * s[0] for s in seeds], [100 * s[1] for s in seeds], color=color, alpha=0.12, lw=0)
    ax.axhline(0, color="0.4", lw=0.8)
    ax.axhline(100 * kd_goal["gain"], color="tab:green", lw=0.8, ls="--",
               label=f"goal: +{100 * kd_goal['gain']:g} points")
    if curve:
        ax.set_xscale("log")
        ticks = sorted({g["epochs"] for g in curve})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    ax.set_xlabel("schedule: epochs of one cosine decay (log scale)")
    ax.set_ylabel("test accuracy gain over hard (points)")
    ax.set_title("Does distillation help, and when? Gain over labels only vs schedule\n"
                 "bars: 95% CI over test images; band: 95% CI over seeds", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    plots._save(fig, path)


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


# the validation accuracy after each step of a recipe trial (bench/tune_dcz.py writes them, per seed)
RECIPE_TRIAL_STEPS = ("val_accuracy_before", "val_accuracy_pruned", "val_accuracy_kmeans")


def recipe_trials_table(trials):
    """Markdown: each Deep Compression recipe trial (bench/tune_dcz.py rows): subject, what changed from
    the section's recipe, the largest seed's bytes, validation after each step (mean over seeds)."""
    lines = ["| subject | changed | seeds | bytes (largest) | validation before | pruned | k-means | decoded (mean) | "
             "decoded per seed | seconds |", "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in trials:
        changed = ", ".join(f"{k}={v}" for k, v in r["changed"].items()) or "(the section's recipe)"
        steps = [f"{np.mean(r[k]):.4f}" for k in RECIPE_TRIAL_STEPS]
        lines.append(f"| {r['name']} | {changed} | {len(r['seeds'])} | {max(r['bytes']):,} | {' | '.join(steps)} | "
                     f"{r['val_accuracy_mean']:.4f} | {', '.join(f'{a:.4f}' for a in r['val_accuracy'])} | "
                     f"{r['seconds']:.0f} |")
    return "\n".join(lines)


def report(summary, networks, rows=(), deep=(), tuning=(), recipe_trials=()):
    """The study's Markdown page; `tuning`: the exploration trials (metrics/tuning.json, bench/tune.py --study);
    `recipe_trials`: the Deep Compression recipe trials (metrics/deep_compress_tuning.json, bench/tune_dcz.py)."""
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
              "## The gain curve: distillation's gain against the schedule (plots/gain_curve.png)", "",
              "At each schedule both losses trained, kd minus hard in points (mean over seed pairs), with two 95% "
              "intervals: over seeds (Student's t on the per-pair differences: what another seed would see) and "
              "over test images (exact, from the pooled discordant images: what other test images would see). "
              "No choice reads these numbers.", "",
              curve_table(s["gain_curve"]) if s["gain_curve"] else "No schedule was trained both ways.", "",
              "## Every trial: the schedule validation chose", "",
              "Each network, loss and schedule (one cosine decay over that many epochs), mean over seeds. Per network "
              "and loss the schedule of the best mean validation accuracy is chosen (a tie goes to the shorter); test "
              "accuracy is read once per chosen model and shown here for the others only as a record.", "",
              trials_table(networks), "",
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
    if recipe_trials:
        lines += ["## Every Deep Compression recipe trial (bench/tune_dcz.py --study; "
                  "metrics/deep_compress_tuning.json)", "",
                  "Each recipe through prune, share, Huffman and decode on the listed seeds, scored on validation "
                  "only: they chose `deep_compress`'s recipes. `changed` is what the trial varied from the recipe "
                  "of its day.", "", recipe_trials_table(recipe_trials), ""]
    if tuning:
        lines += ["## Every exploration trial (bench/tune.py --study; metrics/tuning.json)", "",
                  "Short trials, one or two seeds, scored on validation only: they chose each family's recipe (the "
                  "`train` of study/params.yaml) before its seeds trained. `changed` is what the trial varied.", "",
                  R.trials_table(tuning), ""]
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
