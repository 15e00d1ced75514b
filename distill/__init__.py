"""Knowledge distillation on MNIST: the logic behind the DVC stages in stages/.

Subpackages by concept, each the unit a stage lists in its deps (docs/layout.md): core (names,
paths, params, files, the stage runner), data (MNIST and its cached views), training (networks,
losses, the loop, students), compression (.tflite and Deep Compression), results (report, plots,
statistics) and study (the study pipeline's own code). fanout.py and gate.py are tools a user runs.

This package stays import-light: params are validated before TensorFlow is imported, so a bad
params.yaml is refused in a fraction of a second.
"""


def _keep_freed_memory():
    """TensorFlow allocates and frees its tensors every step; glibc hands large freed blocks back to
    the kernel (munmap, heap trim), so the next step page-faults them in again. On a VM where page
    faults are slow that doubled a small CNN's epoch (20 s -> 12-14 s with this, same weights):
    keep blocks up to 32 MB in the heap and trim it only above 2 GB free. Arithmetic is unchanged."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # malloc.h
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1)  # an int: 2 GB is the most it takes
        libc.mallopt(M_TOP_PAD, 256 << 20)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
        pass


_keep_freed_memory()


class Error(Exception):
    """An error a user can act on: its message names the key or the file at fault."""
