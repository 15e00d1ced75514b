"""Deep Compression for a Keras 3 model you bring: a .dcz file that carries its architecture.

    python -m distill.dcz compress MODEL.keras OUT.dcz --data mnist|FILE.npz|IDX_FOLDER [recipe options]
    python -m distill.dcz score FILE.dcz --data mnist|FILE.npz|IDX_FOLDER   decode it, print its accuracy
    python -m distill.dcz info FILE.dcz                                    version, bytes by part, arrays

The model loads in Keras's safe mode (no Lambda code); the recipe's defaults are the project's,
chosen on validation (docs/deep-compression.md). The API: distill/compression/anymodel.py.
"""
import argparse
import json
import sys

from distill.compression.config import FLOAT_STORAGE, LAYER_KINDS


def parse_kinds(text, cast):
    """'conv=0.6,dense=0.98,output=0.7' -> {kind: value}; every kind once."""
    out = {}
    for part in text.split(","):
        kind, _, value = part.partition("=")
        if kind not in LAYER_KINDS or kind in out:
            raise argparse.ArgumentTypeError(f"'{part}': each of {', '.join(LAYER_KINDS)} once, as kind=value")
        try:
            out[kind] = cast(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{part}': not a number") from None
    if set(out) != set(LAYER_KINDS):
        raise argparse.ArgumentTypeError(f"needs {', '.join(LAYER_KINDS)}")
    return out


def main(argv=None):
    from distill.compression.anymodel import DEFAULT
    parser = argparse.ArgumentParser(prog="python -m distill.dcz", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compress", help="a saved Keras model (.keras) -> a .dcz file")
    c.add_argument("model")
    c.add_argument("out")
    s = sub.add_parser("score", help="decode a .dcz file and print its accuracy")
    s.add_argument("file")
    for p in (c, s):
        p.add_argument("--data", required=True, help="mnist, an .npz (x_train, y_train, ...) or a folder of IDX files")
        p.add_argument("--validation", type=int, default=5000,
                       help="training examples held out when the data has no x_val")
    kinds = ",".join(f"{k}={v}" for k, v in DEFAULT.sparsity.items())
    c.add_argument("--sparsity", type=lambda t: parse_kinds(t, float), default=DEFAULT.sparsity,
                   help=f"default {kinds}")
    c.add_argument("--bits", type=lambda t: parse_kinds(t, int), default=DEFAULT.bits,
                   help="codebook bits per kind, default " + ",".join(f"{k}={v}" for k, v in DEFAULT.bits.items()))
    c.add_argument("--prune-epochs", type=int, default=DEFAULT.prune_epochs)
    c.add_argument("--share-epochs", type=int, default=DEFAULT.share_epochs)
    c.add_argument("--learning-rate", type=float, default=DEFAULT.learning_rate)
    c.add_argument("--batch-size", type=int, default=DEFAULT.batch_size)
    c.add_argument("--floats", choices=FLOAT_STORAGE, default="float16")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--record", help="write what each step measured as JSON here")
    i = sub.add_parser("info", help="a .dcz file's version, bytes by part and arrays")
    i.add_argument("file")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, OSError) as e:
        print(f"dcz: {e}", file=sys.stderr)
        return 1


def _run(args):
    import dataclasses
    from pathlib import Path

    import keras

    from distill.compression import anymodel, codec
    from distill.core import files

    if args.command == "info":
        blob = anymodel.read(args.file)
        try:
            h, sizes = codec.header(blob), codec.sizes(blob)
        except codec.FormatError as e:
            raise codec.FormatError(f"{args.file}: {e}") from None
        arrays = h.shapes if h.version == 2 else [None] * len(h.bits)
        print(json.dumps({"version": h.version, "network": h.network, "floats": h.floats, "sizes": sizes,
                          "arrays": [{"shape": s, "bits": b, "kept": k} for s, b, k in zip(arrays, h.bits, h.nnz)]},
                         indent=1))
        return 0
    if args.command == "score":
        from distill.training import loop, scores

        model = anymodel.load(args.file, anymodel.PROJECT_LAYERS)  # the project's own layers: its .dcz files too
        splits = anymodel.dataset(args.data, model.inputs[0].shape, args.validation)
        for split in ("val", "test"):
            if splits[split] is not None:
                x, y = splits[split]
                print(f"{args.file}: {split} accuracy {scores.accuracy(loop.predict(model, x), y):.4f} "
                      f"({len(y):,} examples)")
        return 0
    if not Path(args.model).is_file():
        raise ValueError(f"{args.model}: not found")
    try:
        model = keras.saving.load_model(args.model, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - Keras raises many kinds for a file it cannot read
        first = str(e).strip().split("\n")[0].split(". ")[0]  # one line: Keras's first sentence
        raise ValueError(f"{args.model}: Keras cannot load it in safe mode ({type(e).__name__}: {first})") from None
    recipe = dataclasses.replace(anymodel.DEFAULT, sparsity=args.sparsity, bits=args.bits,
                                 prune_epochs=args.prune_epochs, share_epochs=args.share_epochs,
                                 learning_rate=args.learning_rate, batch_size=args.batch_size)
    # the model and recipe are checked before the data is read
    result = anymodel.compress(model, args.data, recipe=recipe, floats=args.floats, seed=args.seed,
                               label=Path(args.out).stem, held_out=args.validation)
    files.write_bytes(args.out, result.blob)
    if args.record:
        files.write_json(args.record, result.record)
    r = result.record
    scores = ", ".join(f"{what} {r[key]:.4f}" for what, key in (("validation", "val_accuracy"), ("test", "accuracy"))
                       if r[key] is not None)
    print(f"{args.out}: {len(result.blob):,} bytes ({r['sizes']['config']:,} of them the architecture), sparsity "
          f"{r['sparsity']:.3f}; {scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
