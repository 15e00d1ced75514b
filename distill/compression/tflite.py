"""Shippable files: int8 TFLite, real bytes and ms (pruning, the step before: pruning.py).

- int8: full-integer post-training quantization to a TFLite flatbuffer (int8 weights, activations,
  input and output), calibrated on training images.
- Accuracy, size and latency are measured on the real .tflite files, run by LiteRT's interpreter
  (`ai-edge-litert`, the successor of `tf.lite.Interpreter`); the converter stays in TensorFlow.
Pruning, weight sharing and the Huffman-coded file (Deep Compression) are pruning.py, sharing.py and codec.py.
"""
import contextlib
import gzip
import io
import statistics
import time
import warnings

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from distill.core import files, names, paths

# --- TFLite ----------------------------------------------------------------------------------------


def to_tflite(model, int8=False, calibration=None):
    """Convert a Keras model to a TFLite flatbuffer: float32, or full-integer int8 (weights,
    activations, input and output) calibrated on `calibration` (float32 images)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        if calibration is None or not len(calibration):
            raise ValueError("int8 conversion needs calibration images")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # the converter prints the exported signature, and warns that our float input has no
        # preset range: the representative dataset sets it
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return converter.convert()


def read_tflite(path):
    """The bytes of a .tflite file, checked by loading them into the interpreter."""
    blob = files.read_bytes(path)
    try:
        interpreter(blob)
    except (ValueError, RuntimeError) as e:
        raise files.unreadable(path, "TFLite model", e) from None
    return blob


def interpreter(tflite, threads=1):
    return Interpreter(model_content=tflite, num_threads=threads)


class Runner:
    """Runs a .tflite model on float32 images, quantizing input and dequantizing output for int8."""

    def __init__(self, tflite, threads=1):
        self.it = interpreter(tflite, threads)
        self.batch = None

    def _resize(self, batch):
        if batch != self.batch:
            inp = self.it.get_input_details()[0]
            self.it.resize_tensor_input(inp["index"], [batch, *inp["shape"][1:]])
            self.it.allocate_tensors()
            self.batch = batch
        return self.it.get_input_details()[0], self.it.get_output_details()[0]

    def _quantized(self, x, detail):
        if detail["dtype"] == np.float32:
            return x.astype(np.float32)
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])

    def __call__(self, x):
        inp, out = self._resize(len(x))
        self.it.set_tensor(inp["index"], self._quantized(x, inp))
        self.it.invoke()
        y = self.it.get_tensor(out["index"])
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y

    def predict(self, x, batch_size=1000):
        return np.concatenate([self(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def ms_per_image(self, x, batch, repeats=20, warmup=3):
        """Median over `repeats` timed invocations of one batch, divided by the batch size."""
        inp, _ = self._resize(batch)
        self.it.set_tensor(inp["index"], self._quantized(x[:batch], inp))
        for _ in range(warmup):
            self.it.invoke()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            self.it.invoke()
            times.append(time.perf_counter() - t)
        return 1000 * statistics.median(times) / batch


def weight_dtypes(tflite):
    """{op: [weight dtype, ...]} for every conv and fully-connected op in a .tflite file."""
    it = interpreter(tflite)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    out = {}
    for op in it._get_ops_details():
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            out.setdefault(op["op_name"], []).append(np.dtype(tensors[op["inputs"][1]]["dtype"]).name)
    return out


def write_record(name, record):
    """A compress (or teacher_tflite) record: in full beside the .tflite files, and its headline, with
    the int8 file's accuracy and bytes as its own (what ships), in the metrics file dvc.yaml declares."""
    files.write_json(paths.compress_full_record(name), record)
    files.write_json(paths.compress_record(name), names.headline({**record, **record[names.INT8]}))


def gzip_size(data):
    return len(gzip.compress(data, compresslevel=9, mtime=0))
