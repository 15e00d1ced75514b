"""Stage study_report of the study (study/dvc.yaml): every network record -> summary, report, plots.

    PYTHONPATH=.. python -m stages.study_report      (in study/)

Reads params: evaluate (targets, budgets, kd goal, file target), study (which networks to expect) and
deep_compress.teacher and .students; reads metrics/networks/<network>.json of every network on the grid (a missing
one is an error, a stale one of a network no longer on the grid is left out), the full records of the
teacher (data/teacher.json), of its .tflite files (data/compressed/teacher.json) and of every listed
student's .dcz files (data/deep_compressed/<name>/record.json), and the exploration trials
(metrics/tuning.json, which bench/tune.py --study appends to) and the Deep Compression recipe trials
(metrics/deep_compress_tuning.json, from bench/tune_dcz.py --study). Writes
metrics/summary.json, metrics/report.md and metrics/plots/ (frontier.png, kd_gain.png,
accuracy_vs_bytes.png, frontier.csv), all git-tracked and none a DVC metric: the root's
`dvc metrics show` stays the default pipeline's.
"""

from distill.compression.config import TUNING as DCZ_TUNING
from distill.compression.config import DeepCompressConfig
from distill.core import names, paths
from distill.core import params as P
from distill.core.stage import run
from distill.results.config import DEEP_KEYS, StudyEvaluateConfig
from distill.study import config as S


def main():
    cfg = P.section("evaluate", StudyEvaluateConfig)
    study = S.load()
    deep_cfg = P.section("deep_compress", DeepCompressConfig)
    from distill.core import files
    from distill.results import plots
    from distill.results import report as R
    from distill.results import study_report as SR

    teacher = files.read_record(paths.TEACHER_FULL_RECORD, ("accuracy", "val_accuracy", "params"))
    keys = ("network", "students", "kd_gain", "chosen", "gain_curve", "trials")
    networks = [files.read_record(S.network_record(S.network_name(arch, widths)), keys)
                for arch, widths in study.networks()]
    if not networks:
        raise P.ParamsError(f"{P.PARAMS_FILE}: {S.SECTION}: no network on any family's grid")
    deep = [files.read_record(paths.deep_full_record(name), DEEP_KEYS) for name in deep_cfg.subjects]
    teacher_tflite = files.read_record(paths.compress_full_record(names.TEACHER), names.TFLITE_KINDS)
    rows = R.artifacts([], teacher_tflite, deep)
    summary = SR.summarize(teacher, networks, cfg.targets, cfg.budgets, cfg.kd_goal, rows, deep, cfg.file_target)
    records, gains = SR.records_of(networks)

    R.write_csv(paths.plot("frontier.csv"), sorted(records, key=lambda r: r["params"]),
                ["name", "arch", "loss", "params", "accuracy", "accuracy_std", "accuracy_min", "val_accuracy"])
    plots.frontier(records, teacher, cfg.targets, paths.plot("frontier.png"))
    SR.kd_gain_plot(gains, cfg.kd_goal, paths.plot("kd_gain.png"))
    SR.gain_curve_plot(SR.curve_of(networks), cfg.kd_goal, paths.plot("gain_curve.png"))
    if rows:
        plots.accuracy_vs_bytes(rows, cfg.file_target, paths.plot("accuracy_vs_bytes.png"))
    files.write_json(paths.SUMMARY, summary)
    with files.atomic_path(paths.REPORT) as tmp:
        tmp.write_text(SR.report(summary, networks, rows, deep, files.read_json(S.TUNING),
                                 files.read_json(DCZ_TUNING)))
    goals = summary["goals"]
    print("study_report: " + "; ".join(
        f"<= {b['params']:,} params: {b['student']} {b['accuracy']:.4f} ({'met' if b['met'] else 'not met'})"
        if b["student"] else f"<= {b['params']:,} params: none" for b in goals["budgets"])
        + f"; kd goal {'met' if goals['kd']['met'] else 'not met'} "
        + f"({', '.join(goals['kd']['winners']) or 'no network'})")


if __name__ == "__main__":
    run(main)
