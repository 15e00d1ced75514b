"""Deep Compression for students: magnitude pruning with fine-tuning, int8 TFLite, real bytes and ms.

- Pruning (Han et al. 2015; gradual schedule of Zhu & Gupta 2017): the smallest-magnitude weights of
  every Dense and Conv2D kernel are zeroed, rising along a cubic schedule to the target sparsity while
  the student fine-tunes on the cached teacher logits with its own loss; a mask re-applied after every
  step keeps them zero. Written with Keras 3 callbacks (tensorflow-model-optimization needs tf_keras).
- int8: full-integer post-training quantization to a TFLite flatbuffer (int8 weights, activations,
  input and output), calibrated on training images.
- Accuracy, size and latency are measured on the real .tflite files, run by LiteRT's interpreter
  (`ai-edge-litert`, the successor of `tf.lite.Interpreter`); the converter stays in TensorFlow.
Weight sharing and the Huffman-coded file, the rest of Deep Compression, are sharing.py and codec.py.
"""
import contextlib
import gzip
import io
import math
import statistics
import time
import warnings

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from distill.core import files, names, paths
from distill.core.names import COSINE
from distill.training import loop, losses, models


def magnitude_mask(kernel, fraction):
    """A 0/1 mask zeroing the `fraction` smallest-magnitude entries of `kernel`."""
    flat = np.abs(kernel).ravel()
    k = int(round(fraction * flat.size))
    mask = np.ones(flat.size, dtype=kernel.dtype)
    if k:
        mask[np.argsort(flat, kind="stable")[:k]] = 0
    return mask.reshape(kernel.shape)


class MagnitudePruning(keras.callbacks.Callback):
    """Raise each kernel's sparsity to its target over the first `ramp` share of `total_steps` (cubic
    schedule, masks recomputed every `every` steps), then hold the masks; zeros stay zero. `target`
    is one share for every prunable kernel or a list with one share per kernel (prunable order)."""

    def __init__(self, target, total_steps, ramp=0.5, every=20):
        super().__init__()
        self.target, self.total_steps, self.every = target, total_steps, every
        self.ramp_steps = max(1, int(ramp * total_steps))
        self.step, self.masks = 0, None

    def scheduled(self, step, target):
        t = min(1.0, step / self.ramp_steps)
        return target * (1 - (1 - t) ** 3)

    def _update_masks(self, step=None):
        self.masks = [magnitude_mask(np.asarray(k), target if step is None else self.scheduled(step, target))
                      for k, target in zip(self.kernels, self.targets)]

    def _apply(self):
        for kernel, mask in zip(self.kernels, self.masks):
            kernel.assign(kernel * mask)

    def on_train_begin(self, logs=None):
        self.kernels = models.prunable(self.model)
        self.targets = kernel_targets(self.target, len(self.kernels))
        self._update_masks(0)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step <= self.ramp_steps and (self.step % self.every == 0 or self.step == self.ramp_steps):
            self._update_masks(self.step)
        self._apply()

    def on_train_end(self, logs=None):
        self._update_masks()  # exact targets, whatever the step count was
        self._apply()


def kernel_targets(target, n):
    """One sparsity per prunable kernel, from one share for all or a list of n."""
    targets = [target] * n if np.isscalar(target) else list(target)
    if len(targets) != n:
        raise ValueError(f"{len(targets)} sparsity targets for {n} prunable kernels")
    return targets


def scale_dropout(model, sparsity):
    """Lower each Dropout's rate for the sparser layer after it (Han et al. 2015, sec. 3.2): a layer
    keeping a share k of its weights has k times the connections, so its dropout rate becomes
    rate * sqrt(k). `sparsity`: one share, or one per prunable kernel. Returns {layer name: new rate}."""
    layers, prunable_ = model.layers, models.prunable_layers(model)
    kept = {id(layer): 1 - s for layer, s in zip(prunable_, kernel_targets(sparsity, len(prunable_)))}
    rates = {}
    for i, layer in enumerate(layers):
        following = next((nxt for nxt in layers[i + 1:] if id(nxt) in kept), None)
        if isinstance(layer, keras.layers.Dropout) and following is not None:
            layer.rate = float(layer.rate * math.sqrt(kept[id(following)]))
            rates[layer.name] = round(layer.rate, 4)
    return rates


def prune(model, examples, sparsity, epochs, learning_rate, batch_size, seed=0, label="prune", metric=None):
    """Prune the kernels of `model` to `sparsity` (one share, or one per prunable kernel) while
    fine-tuning on `examples` = (x, targets, transform), or ready loop.Batches of cached views,
    with its own compiled loss for `epochs` epochs of `batch_size` (Adam at `learning_rate`,
    cosine-decayed; batches shuffled by `seed`);
    with 0 epochs, prune in one shot without fine-tuning. `metric` is the accuracy the progress
    lines show: losses.LabelAccuracy for packed student targets (the default), "accuracy" for labels."""
    if epochs == 0:
        kernels = models.prunable(model)
        for kernel, target in zip(kernels, kernel_targets(sparsity, len(kernels))):
            kernel.assign(np.asarray(kernel) * magnitude_mask(np.asarray(kernel), target))
        return model
    batches = loop.batches(examples, batch_size, seed)
    steps = len(batches) * epochs
    model.compile(optimizer=keras.optimizers.Adam(loop.learning_rate(learning_rate, COSINE, steps)),
                  loss=model.loss, metrics=[metric or losses.LabelAccuracy()])
    model.fit(batches, epochs=epochs, verbose=0,
              callbacks=[MagnitudePruning(sparsity, steps), loop.Progress(f"{label} (pruning)", epochs)])
    return model


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
