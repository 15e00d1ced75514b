"""Every error a user can cause through a data file or a missing output: one line `stage: error: ...`,
exit 1, no traceback, nothing written. (Bad params: test_params.py; bad MNIST files: test_data.py.)"""
import pytest
from conftest import default_params, files_under, run_stage
from test_params import _stage_error
from test_students import _project

from distill.core import files, paths


@pytest.fixture
def project(tmp_path):
    _project(tmp_path)
    (tmp_path / "params.yaml").write_text("")
    return tmp_path


def _refused(project, stage, message, args=(), params=None):
    before = files_under(project)
    _stage_error(run_stage(stage, project, params or default_params(), args=args), stage, message)
    assert files_under(project) == before  # nothing written, nothing removed


def test_teacher_outputs_without_a_teacher(project):
    _refused(project, "teacher_outputs", f"{paths.TEACHER_MODEL}: not found; run the stage that writes it")


def test_teacher_outputs_with_a_damaged_teacher(project):
    (project / paths.TEACHER_MODEL).write_bytes(b"PK\x03\x04 half a file")
    _refused(project, "teacher_outputs", f"{paths.TEACHER_MODEL}: not a readable Keras model")


def test_student_with_outputs_of_another_dataset(project):
    _project(project, logits_rows=39)
    _refused(project, "student", f"{paths.teacher_outputs('train', 'logits')} holds 39 rows")


def test_student_with_a_damaged_array(project):
    path = project / paths.teacher_outputs("train", "features")
    path.write_bytes(path.read_bytes()[:200])
    _refused(project, "student", f"{paths.teacher_outputs('train', 'features')}: not a readable .npy array")


def test_student_without_data(project):
    (project / paths.MNIST).unlink()
    _refused(project, "student", f"{paths.MNIST}: not found")


def test_compress_without_the_trained_student(project):
    _refused(project, "compress", f"{paths.student_dir('student')}: no trained student 'student'", args=["student"])


def test_deep_compress_without_the_trained_student_or_the_teacher(project):
    params = default_params()
    name = params["deep_compress"]["students"][0]
    _refused(project, "deep_compress", f"{paths.student_dir(name)}: no trained student '{name}'", args=[name])
    (project / paths.COMPRESSED).mkdir(parents=True)
    (project / paths.tflite("teacher", "float32")).write_bytes(b"TFL3")
    with_teacher = default_params()
    with_teacher["deep_compress"]["teacher"] = ["teacher"]  # the study's setting: the default leaves the teacher out
    _refused(project, "deep_compress", f"{paths.TEACHER_MODEL}: not found", args=["teacher"], params=with_teacher)


def test_evaluate_with_missing_and_damaged_records(project):
    # evaluate reads the full records, cached beside the models, not the metrics files' headlines
    _refused(project, "evaluate", f"{paths.TEACHER_FULL_RECORD}: not found")
    (project / paths.TEACHER_FULL_RECORD).write_text("{half")
    _refused(project, "evaluate", f"{paths.TEACHER_FULL_RECORD}: not a readable JSON file")
    files.write_json(project / paths.TEACHER_FULL_RECORD, {"accuracy": 0.99, "val_accuracy": 0.99, "params": 1})
    files.write_json(project / paths.STUDENT_RECORD, {"accuracy": 0.98, "params": 100})  # a headline alone
    student = paths.student_full_record(paths.HEADLINE)
    _refused(project, "evaluate", f"{student}: not found")
    files.write_json(project / student, {"name": "x"})
    _refused(project, "evaluate", f"{student}: not a record of this pipeline (no 'arch')")


def test_compress_with_a_damaged_teacher_file(project):
    from distill.training import models

    files.save_model(models.student("cnn", (2, 4)), project / paths.student_model("student", 0))
    (project / paths.COMPRESSED).mkdir(parents=True)
    (project / paths.tflite("teacher", "float32")).write_bytes(b"TFL3 not a flatbuffer")
    _refused(project, "compress", f"{paths.tflite('teacher', 'float32')}: not a readable TFLite model",
             args=["student"])
