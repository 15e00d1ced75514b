"""Stage evaluate: gather every record -> metrics/summary.json, metrics/report.md, metrics/plots/.

The records are read in full from beside what they describe (data/teacher.json,
data/students/<name>/record.json, data/compressed/<name>.json, data/deep_compressed/<name>/record.json),
not from the metrics files, which keep only their headline keys.

Reads params: evaluate, and sweep, compress.students and deep_compress.students (to know which
records to expect; a missing
one is an error, a stale record of a point no longer on the grid is left out), and every grid
point's test predictions (data/students/<name>/test_predictions.npy) for the kd/dkd vs hard tests,
and bench/tuning.json, the validation trials the report lists beside the goals they served.
Everything is read and checked before anything is written.
"""
from distill.compression.config import CompressConfig, DeepCompressConfig
from distill.core import params as P
from distill.core.stage import run
from distill.results.config import EvaluateConfig
from distill.training.config import sweep_spec


def main():
    cfg = P.section("evaluate", EvaluateConfig)
    sweep = P.section("sweep", sweep_spec())
    compress = P.section("compress", CompressConfig)
    deep_cfg = P.section("deep_compress", DeepCompressConfig)
    from distill.results import evaluate

    evaluate.evaluate(cfg, sweep, compress, deep_cfg)


if __name__ == "__main__":
    run(main)
