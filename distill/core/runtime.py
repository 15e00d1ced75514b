"""TensorFlow's thread count, which decides the bytes: set once, from params, before TensorFlow loads.

TensorFlow's CPU kernels split an op's work over its intra-op thread pool, and the split decides the
order in which floating-point sums are added: 1 and 2 threads gave other weights for the same seed.
Its default pool is one thread per core, so without this a 16-core machine could not reproduce a
2-core machine's committed numbers. `runtime.tf_threads` fixes the count for every stage (and
`distill.fanout`'s workers), whatever the machine; see docs/determinism.md for what still differs
across CPU types.
"""
import os
from dataclasses import dataclass

from distill.core import params as P

SECTION = "runtime"
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")  # read by TensorFlow when it starts


@dataclass(frozen=True)
class RuntimeConfig:
    tf_threads: int = P.field(P.integer(min=1, max=256))  # intra- and inter-op threads of every TensorFlow stage


def config(path=P.PARAMS_FILE):
    return P.section(SECTION, RuntimeConfig, path)


def environment(threads):
    """The environment variables that give TensorFlow `threads` threads (set before it is imported)."""
    return {name: str(threads) for name in THREAD_VARIABLES}


def pin_threads(path=P.PARAMS_FILE):
    """Read `runtime.tf_threads` and set TensorFlow's thread pools to it. Must run before TensorFlow is
    imported: it reads these variables once, when it starts."""
    cfg = config(path)
    os.environ.update(environment(cfg.tf_threads))
    return cfg.tf_threads
