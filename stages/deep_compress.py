"""Stage deep_compress: all of Deep Compression on one network -> Huffman-coded .dcz files, decoded and scored.

    python -m stages.deep_compress teacher               the teacher (data/teacher.keras)
    python -m stages.deep_compress <grid point>          e.g. cnn-8-16-16-32-hard: every seed's model

Prune, share, Huffman-code, decode and score each model (distill/compression/deep.py). Reads params:
deep_compress. Writes data/deep_compressed/<name>/ (the .dcz files and record.json, the full record),
metrics/deep_compress/<name>.json (the record's headline keys) and, untracked,
metrics/timing/deep_compress-<name>.json.
"""
import sys

from distill.compression.config import DeepCompressConfig
from distill.core import names, paths
from distill.core import params as P
from distill.core.stage import run


def main(argv):
    cfg = P.section("deep_compress", DeepCompressConfig)
    if len(argv) != 1:
        raise P.ParamsError(f"usage: python -m stages.deep_compress <teacher or student name>, got {argv}")
    name = argv[0]
    P.listed(name, cfg.subjects, "deep_compress.teacher" if name == names.TEACHER else "deep_compress.students")
    from distill.compression import deep
    from distill.core import files

    _, seconds = deep.compress(name, cfg)
    files.write_json(paths.timing(f"deep_compress-{name}"), {"seconds": round(sum(seconds.values()), 1),
                                                             "per_seed": seconds})


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
