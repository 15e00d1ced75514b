"""distill.core.stage.run: a user's error is one line `stage: error: ...`; TensorFlow's start-up lines are dropped."""
import os
import subprocess
import sys

from conftest import ROOT

STAGE = '''
import os, sys
from distill.core.files import InputError
from distill.core.stage import run

def main():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
    os.write(2, b"I0000 00:00:1795950040.666465    2185 port.cc:153] oneDNN custom operations are on. You may see\\n")
    os.write(2, b"E0000 00:00:1795950042.419873    2185 cuda_platform.cc:52] failed call to cuInit: INTERNAL\\n")
    os.write(2, b"E0000 00:00:1795957786.490452    3407 node_def_util.cc:682] NodeDef mentions attribute "
                b"use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset>\\n")
    os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8\\n")
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
    print("epoch 1/1", file=sys.stderr, flush=True)
    raise InputError(sys.argv[1])

run(main)
'''


def _run(tmp_path, message, **env):
    script = tmp_path / "stages" / "fake.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(STAGE)
    (tmp_path / "params.yaml").write_text("runtime: {tf_threads: 2}\n")
    return subprocess.run([sys.executable, "-m", "stages.fake", message], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", **env})


def test_an_error_is_one_line_and_tf_startup_lines_are_dropped(tmp_path):
    r = _run(tmp_path, "data/x.npy: not found;\nrun the stage")
    assert r.returncode == 1
    assert r.stderr.splitlines() == ["epoch 1/1", "fake: error: data/x.npy: not found; run the stage"]


def test_tf_startup_lines_shown_on_request(tmp_path):
    r = _run(tmp_path, "boom", DISTILL_TF_LOGS="1")
    assert r.returncode == 1
    assert "oneDNN custom operations are on" in r.stderr and "failed call to cuInit" in r.stderr
    assert "fully_quantize: 0" in r.stderr and "XNNPACK delegate" in r.stderr and "use_unbounded_threadpool" in r.stderr
    assert r.stderr.splitlines()[-1] == "fake: error: boom"
