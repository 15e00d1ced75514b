"""Gathering a study network's seeds: per loss and schedule, the seeds' one-seed records merged into
one record (the shape evaluation.student_record gives, so report.py's tables take it); per loss, the
schedule validation chooses; the paired tests of each distillation loss (kd, dkd) against labels only
(hard) at the chosen schedules, and at each schedule both trained (the gain curve).

Kept apart from distill/study/ (which every seed stage runs) so that editing this reruns the gather
stages only, never a trained seed.
"""
import numpy as np

from distill.core.names import DKD, HARD, KD
from distill.results import stats
from distill.training.scores import spread

SPREAD_KEYS = ("accuracy", "val_accuracy", "agreement")  # each gets a mean, _std (sample) and _min over seeds
PER_SEED_ONLY = ("seed", "seeds", "per_seed", *SPREAD_KEYS, *(f"{k}_{s}" for k in SPREAD_KEYS for s in ("std", "min")))
TEACHING = (KD, DKD)


def merge(seed_records):
    """One student's record over its seeds from the one-seed records its seed stages wrote (in the
    order given: the seeds list's). Mean, sample std (None for one seed) and min of validation and
    test accuracy and of agreement are computed again over every seed; per_seed lists each seed."""
    if not seed_records:
        raise ValueError("no seed records to merge")
    first = seed_records[0]
    for r in seed_records[1:]:
        differ = [k for k in first if k not in PER_SEED_ONLY and r.get(k) != first[k]]
        if differ:
            raise ValueError(f"{r['name']}: seed {r['seeds']} was trained otherwise than seed {first['seeds']} "
                             f"({differ[0]}: {r.get(differ[0])!r} vs {first[differ[0]]!r}); rerun it")
    per_seed = [p for r in seed_records for p in r["per_seed"]]
    seeds = [p["seed"] for p in per_seed]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"{first['name']}: seed listed twice in {seeds}")
    record = {k: v for k, v in first.items() if k not in PER_SEED_ONLY}
    head = {k: record.pop(k) for k in ("name", "arch", "hidden", "widths", "loss", "params", "compression")
            if k in record}
    out = dict(head)
    for key in SPREAD_KEYS:
        mean, std, low = spread([p[key] for p in per_seed])
        out.update({key: mean, f"{key}_std": std, f"{key}_min": low})
    return {**out, "seeds": seeds, "per_seed": per_seed, **record}


def gain_key(network, loss):
    """The key report.py's kd_gain gives: the network for kd, `<network> dkd` for dkd."""
    return network if loss == KD else f"{network} {loss}"


def gains(network, students, predictions, labels):
    """report.kd_gain's entries for one network: for each distillation loss trained beside hard,
    stats.kd_vs_hard on the seeds both trained (paired seed by seed in the order they are listed).
    `students` maps a loss to its merged record, `predictions` a loss to its (seeds, images) test
    predictions."""
    out = {}
    if HARD not in students:
        return out
    hard = students[HARD]
    for loss in TEACHING:
        if loss not in students:
            continue
        common = [s for s in students[loss]["seeds"] if s in hard["seeds"]]
        if not common:
            continue
        kd, hard_ = (_only(students[name], predictions[name], common) for name in (loss, HARD))
        out[gain_key(network, loss)] = {"network": network, "params": hard["params"],
                                        **stats.kd_vs_hard(kd, hard_, labels, loss)}
    return out


def _only(record, predictions, seeds):
    """(record, predictions) cut down to `seeds`, in that order: seed s of one loss meets seed s of the other."""
    rows = [record["seeds"].index(s) for s in seeds]
    return {**record, "per_seed": [record["per_seed"][i] for i in rows]}, np.asarray(predictions)[rows]


def choose(runs):
    """The schedule (epochs) of the best mean validation accuracy among `runs` (epochs -> merged
    record); a tie goes to the shorter schedule. Test accuracy plays no part."""
    return min(runs, key=lambda e: (-runs[e]["val_accuracy"], e))


def gain_curve(network, runs, predictions, labels):
    """kd (and dkd) minus hard at every schedule both trained, each with its paired test and its 95%
    intervals (stats.intervals), in schedule order. `runs` maps (loss, epochs) to a merged record,
    `predictions` (loss, epochs) to (seeds, images) test predictions."""
    out = []
    for epochs in sorted({e for _, e in runs}):
        at = {loss: runs[(loss, e)] for loss, e in runs if e == epochs}
        pred = {loss: predictions[(loss, e)] for loss, e in runs if e == epochs}
        for entry in gains(network, at, pred, labels).values():
            out.append({"epochs": epochs, **entry, **stats.intervals(entry, len(labels))})
    return out


def network_record(arch, widths, network, runs, predictions, labels):
    """metrics/networks/<network>.json: every trial (a merged record per loss and schedule, with its
    validation numbers), the schedule validation chose per loss, the chosen students (one per loss),
    their tests at the chosen schedules (kd_gain) and the gain curve. `runs` and `predictions` are keyed
    by (loss, epochs)."""
    losses = list(dict.fromkeys(loss for loss, _ in runs))
    chosen = {loss: choose({e: r for (name, e), r in runs.items() if name == loss}) for loss in losses}
    students = {loss: runs[(loss, chosen[loss])] for loss in losses}
    picked = {loss: predictions[(loss, chosen[loss])] for loss in losses}
    return {"network": network, "arch": arch, "widths": list(widths), "params": students[losses[0]]["params"],
            "losses": losses, "schedules": sorted({e for _, e in runs}), "chosen": chosen,
            "students": [students[loss] for loss in losses],
            "kd_gain": gains(network, students, picked, labels),
            "gain_curve": gain_curve(network, runs, predictions, labels),
            "trials": [runs[key] for key in sorted(runs, key=lambda k: (losses.index(k[0]), k[1]))]}
