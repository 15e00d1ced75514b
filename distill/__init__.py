"""Knowledge distillation on MNIST: the logic behind the DVC stages in stages/.

This package stays import-light: params are validated before TensorFlow is imported, so a bad
params.yaml is refused in a fraction of a second.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's INFO/WARNING chatter; set 0 to see it


class Error(Exception):
    """An error a user can act on: its message names the key or the file at fault."""


def run(main):
    """Run a stage's main(); report our errors as one clean line and exit 1, nothing written."""
    try:
        main()
    except (Error, FileNotFoundError) as e:
        name = getattr(sys.modules.get("__main__"), "__spec__", None)
        stage = name.name.split(".")[-1] if name else "stage"
        print(f"{stage}: error: {e}", file=sys.stderr)
        sys.exit(1)
