"""The `compress` and `deep_compress` params sections: which networks go through all of Deep Compression, and how.

Also the `compress` section (int8 .tflite files). Import-light: no TensorFlow.

A subject is the teacher (always) or a listed grid point (`<arch>-<widths>-<loss>`, e.g. cnn-8-16-16-32-hard); the
network a file decodes into is named without the loss (`teacher`, `cnn-8-16-16-32`).
"""
from dataclasses import dataclass

from distill.compression.codec import MAX_BITS  # the format's limit is a recipe's too
from distill.core import names, paths
from distill.core import params as P

# the layer kinds a recipe sets sparsity and codebook bits for: Conv2D kernels, hidden Dense kernels,
# and the last Dense (the logits), which is small and which every class's score passes through
LAYER_KINDS = CONV, DENSE, OUTPUT = ("conv", "dense", "output")
FLOAT_STORAGE = ("float16", "float32")  # how biases, BatchNorm and codebooks are stored in the file
# what the fine-tunings run on: the plain training images, or what the subject trained on (the cached views
# when it trained with `augment`, else the plain images); chosen on validation per recipe (docs/deep-compression.md)
FINETUNE_ON = PLAIN, TRAINED = ("plain", "trained")
# the recipe trials on validation (bench/tune_dcz.py appends; the study's report lists them), per pipeline
TUNING = f"{paths.METRICS}/deep_compress_tuning.json"

@dataclass(frozen=True)
class Recipe:
    """How one network is deep-compressed: magnitude pruning while fine-tuning, then k-means weight
    sharing with the centroids fine-tuned, then Huffman coding (Han et al. 2016)."""

    sparsity: dict = P.field(P.mapping({k: P.number(min=0, max=0.999) for k in LAYER_KINDS}))  # share pruned
    bits: dict = P.field(P.mapping({k: P.integer(min=1, max=MAX_BITS) for k in LAYER_KINDS}))  # 2**bits centroids
    prune_epochs: int = P.field(P.integer(min=0))  # fine-tuning while pruning (0: one shot)
    share_epochs: int = P.field(P.integer(min=0))  # centroid fine-tuning (0: k-means centroids as they are)
    learning_rate: float = P.field(P.number(above=0))  # Adam, cosine-decayed, in both fine-tunings
    batch_size: int = P.field(P.integer(min=1))
    finetune_on: str = P.field(P.choice(*FINETUNE_ON))  # plain: the plain training images; trained: what it trained on


def subject_problem(name):
    """Why `name` is not a grid point deep_compress can take, or None."""
    if name == names.TEACHER:
        return "the teacher goes through with `teacher: [teacher]` (stage deep_compress_teacher): list grid points only"
    try:
        spec = parse_subject(name)
    except ValueError as e:
        return str(e)
    return names.widths_problem(spec.arch, spec.widths)


def parse_subject(name):
    """'cnn-8-16-16-32-hard' -> StudentSpec('cnn', (8, 16, 16, 32), 'hard'); a study run's name with
    its schedule ('sep-8-24-2-kd-e36') names the same student; ValueError otherwise."""
    parts = names.split_schedule(name)[0].split(names.WIDTHS_SEP)
    if len(parts) < 3 or parts[0] not in names.ARCHS or parts[-1] not in names.LOSSES:
        raise ValueError(f"must be a grid point named <arch>-<widths>-<loss> "
                         "(a study run: <arch>-<widths>-<loss>-e<epochs>) "
                         f"(arch one of {', '.join(names.ARCHS)}; loss one of {', '.join(names.LOSSES)}), got '{name}'")
    return names.StudentSpec(parts[0], names.parse_widths(names.WIDTHS_SEP.join(parts[1:-1])), parts[-1])


def network_name(subject):
    """The network a subject's file decodes into: 'teacher' or e.g. 'cnn-8-16-16-32'."""
    return subject if subject == names.TEACHER else parse_subject(subject).network


def parse_network(name):
    """'cnn-8-16-16-32' -> ('cnn', (8, 16, 16, 32)); 'teacher' -> ('teacher', ()); ValueError otherwise."""
    if name == names.TEACHER:
        return names.TEACHER, ()
    spec = parse_subject(f"{name}{names.WIDTHS_SEP}{names.HARD}")
    return spec.arch, spec.widths


TEACHER_LIST = P.list_of(P.choice(names.TEACHER), empty=True)  # [teacher] or []


@dataclass(frozen=True)
class DeepCompressConfig:
    """The `deep_compress` section. Each listed student (and the teacher, with `teacher: [teacher]`) is pruned,
    weight-shared and Huffman-coded into one file per model (every seed of a student), which is decoded back into a
    network and scored."""

    # [teacher]: the teacher goes through too (stage deep_compress_teacher@teacher); []: it does not. A list because
    # DVC makes one stage per entry of a matrix, and none for an empty one: the stage exists only when asked for.
    teacher: list = P.field(TEACHER_LIST)
    students: list = P.field(P.list_of(P.string(), empty=True))  # grid points such as cnn-8-16-16-32-hard; []: none
    teacher_recipe: Recipe = P.field(P.config(Recipe))
    student_recipe: Recipe = P.field(P.config(Recipe))
    floats: str = P.field(P.choice(*FLOAT_STORAGE))  # biases, BatchNorm and codebooks in the file
    seed: int = P.field(P.integer(min=0))  # batch order and dropout of the fine-tunings

    def problems(self):
        for i, name in enumerate(self.students):
            if problem := subject_problem(name):
                yield f"students[{i}]", problem

    def recipe(self, subject):
        return self.teacher_recipe if subject == names.TEACHER else self.student_recipe

    @property
    def subjects(self):
        return list(self.teacher) + list(self.students)


@dataclass(frozen=True)
class CompressConfig:
    """Deep Compression of trained students: prune while fine-tuning, then float32 and int8 TFLite."""

    students: list = P.field(P.list_of(P.string()))  # 'student' (the headline) or grid point names
    sparsity: float = P.field(P.number(min=0, max=0.99))  # share of each Dense/Conv kernel pruned
    finetune_epochs: int = P.field(P.integer(min=0))  # 0: prune in one shot
    learning_rate: float = P.field(P.number(above=0))
    batch_size: int = P.field(P.integer(min=1))
    calibration_images: int = P.field(P.integer(min=1))  # int8 activation ranges
    threads: int = P.field(P.integer(min=1))  # TFLite interpreter threads for the latency figures
    repeats_batch1: int = P.field(P.integer(min=1))
    repeats_batch1000: int = P.field(P.integer(min=1))
    seed: int = P.field(P.integer(min=0))
