"""distill/core/runtime.py: TensorFlow's thread count comes from params, is set before TensorFlow starts,
and a bad value is refused in one line before any work."""
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from distill.core import runtime
from distill.core.params import ParamsError

PROBE = '''
import os, sys
from distill.core.stage import run

def main():
    import tensorflow as tf  # after run() has read params: TensorFlow starts with the pinned pools
    threading = tf.config.threading
    print(os.environ["TF_NUM_INTRAOP_THREADS"], os.environ["TF_NUM_INTEROP_THREADS"],
          threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
    import numpy as np
    x = tf.constant(np.ones((64, 64), np.float32))
    print(float(tf.reduce_sum(tf.matmul(x, x))))

run(main)
'''


def _probe(tmp_path, params, **env):
    (tmp_path / "stages").mkdir(exist_ok=True)
    (tmp_path / "stages" / "probe.py").write_text(PROBE)
    (tmp_path / "params.yaml").write_text(params)
    return subprocess.run([sys.executable, "-m", "stages.probe"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", **env})


def test_every_stage_runs_with_the_params_thread_count_whatever_the_environment(tmp_path):
    r = _probe(tmp_path, "runtime: {tf_threads: 3}\n", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="7")
    assert r.returncode == 0, r.stderr
    # the variables TensorFlow reads at start-up (0: not overridden in code)
    assert r.stdout.splitlines()[0] == "3 3 0 0"
    assert float(r.stdout.splitlines()[1]) == 64 * 64 * 64


@pytest.mark.parametrize("params, message", [
    ("fetch: {}\n", "params.yaml: missing section 'runtime'"),
    ("runtime: {tf_threads: 0}\n", "params.yaml: runtime.tf_threads: must be >= 1, got 0"),
    ("runtime: {tf_threads: 2.5}\n", "params.yaml: runtime.tf_threads: must be an integer, got 2.5 (float)"),
    ("runtime: {tf_threads: 2, cores: 4}\n", "params.yaml: runtime.cores: unknown key"),
])
def test_a_bad_runtime_section_is_one_line_before_any_work(tmp_path, params, message):
    r = _probe(tmp_path, params)
    assert r.returncode == 1 and not r.stdout
    assert r.stderr.strip().startswith(f"probe: error: {message}") and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_environment_names_both_pools():
    assert runtime.environment(2) == {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2"}


def test_the_default_params_fix_two_threads():
    assert runtime.config(str(ROOT / "params.yaml")).tf_threads == 2
    with pytest.raises(ParamsError):
        runtime.config(str(ROOT / "no-such-params.yaml"))
