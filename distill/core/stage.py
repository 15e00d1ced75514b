"""The stage runner: TensorFlow's thread count from params, its start-up noise dropped, and a user's
error reported as one line `stage: error: ...` with exit code 1."""
import contextlib
import os
import re
import sys
import threading

from distill import Error
from distill.core import runtime

# TensorFlow's start-up lines, which it writes from C++ before any log level is read, and the
# TFLite converter's and interpreter's notices: the stages drop them from their logs.
# DISTILL_TF_LOGS=1 shows them (and TensorFlow's INFO/WARNING lines).
SHOW_TF_LOGS = os.environ.get("DISTILL_TF_LOGS", "") not in ("", "0")
TF_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IWE]\d{4} [\d:.]+ +\d+ (port|cudart_stub|cuda_platform|cuda_executor|cpu_feature_guard)\.cc:\d+\]"
    rb"|E\d{4} [\d:.]+ +\d+ node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool"
    rb"|To enable the following instructions: .* rebuild TensorFlow"
    rb"|fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+$"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$)"
)
if not SHOW_TF_LOGS:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the INFO/WARNING lines logged after start-up


def run(main):
    """Run a stage's main() with TensorFlow's thread count from params (runtime.py: it decides the
    bytes); report our errors as one clean line and exit 1, nothing written."""
    with _without_tf_noise():
        try:
            runtime.pin_threads()
            main()
        except Error as e:
            name = getattr(sys.modules.get("__main__"), "__spec__", None)
            stage = name.name.split(".")[-1] if name else "stage"
            message = " ".join(str(e).split())  # one line, whatever the message held
            print(f"{stage}: error: {message}", file=sys.stderr, flush=True)
            sys.exit(1)


@contextlib.contextmanager
def _without_tf_noise():
    """Pass everything written to file descriptor 2 (Python's and C++'s) through a filter thread
    that drops the lines TF_NOISE matches; restore the descriptor and drain on the way out."""
    if SHOW_TF_LOGS:
        yield
        return
    sys.stderr.flush()
    stderr = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump():
        with os.fdopen(read, "rb") as lines:
            for line in lines:
                while line and not TF_NOISE.match(line.rstrip(b"\n")):
                    line = line[os.write(stderr, line):]

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(stderr, 2)  # closes the pipe's last write end: the pump reads to the end and stops
        thread.join(timeout=10)
        os.close(stderr)
