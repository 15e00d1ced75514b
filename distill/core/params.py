"""Read params.yaml and validate one section, before any work starts and before TensorFlow loads.

A section becomes a frozen dataclass (one per concern, see config.py) whose fields each carry a
spec: a function that checks one value and returns it normalised. Every key is required and
unknown keys are refused, so a typo never passes silently. Numbers must be finite. Errors name the
file and the full key, e.g. ``params.yaml: student.temperature: must be > 0, got 0``.
"""
import dataclasses
import difflib
import math
from pathlib import Path

import yaml

from distill import Error
from distill.core import names

PARAMS_FILE = "params.yaml"


class ParamsError(Error, ValueError):
    """A missing, malformed or invalid parameter; the message names the file and the key."""


def load(path=PARAMS_FILE):
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found (run from the project's root)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: must be a mapping of sections, got {type(data).__name__}")
    return data


def section(name, spec, path=PARAMS_FILE, params=None):
    """Validate section `name` of params.yaml; `spec` is a config dataclass (-> an instance), a
    schema dict (-> a dict) or a spec function."""
    params = load(path) if params is None else params
    if name not in params:
        hint = difflib.get_close_matches(name, [str(k) for k in params], n=1)
        hint = f"; found '{hint[0]}', a typo?" if hint else ""
        raise ParamsError(f"{path}: missing section '{name}'{hint}")
    if dataclasses.is_dataclass(spec):
        spec = config(spec)
    elif isinstance(spec, dict):
        spec = mapping(spec)
    return spec(params[name], name, path)


def fail(path, key, message):
    """Refuse the value of `key`: one line naming the file and the key."""
    raise ParamsError(f"{path}: {key}: {message}")


def listed(value, options, key, shown=None, path=PARAMS_FILE):
    """Refuse a stage's command-line argument that is not among `options`, the points `key` lists:
    dvc.yaml's matrix builds the argument from the same params, so the two files disagree."""
    if value not in options:
        fail(path, key, f"{shown or value} is not listed (dvc.yaml's matrix and params.yaml disagree)")


# --- config dataclasses -------------------------------------------------------------------------------


def field(check):
    """A config dataclass field, checked by the spec `check` when its section is read."""
    return dataclasses.field(metadata={"check": check})


def config(cls):
    """A spec: a mapping with exactly the fields of dataclass `cls`, each checked by its own spec,
    returned as an instance. `cls.problems()`, if defined, yields (field, message) for checks that
    involve several fields."""
    schema = {f.name: f.metadata["check"] for f in dataclasses.fields(cls)}

    def check(value, key, path):
        obj = cls(**mapping(schema)(value, key, path))
        for sub, message in getattr(obj, "problems", lambda: ())():
            fail(path, f"{key}.{sub}", message)
        return obj

    return check


def mapping(schema):
    def check(value, key, path):
        if not isinstance(value, dict):
            fail(path, key, f"must be a mapping, got {_show(value)}")
        unknown = sorted(set(value) - set(schema))
        if unknown:
            hint = difflib.get_close_matches(str(unknown[0]), list(schema), n=1)
            hint = f"; did you mean '{hint[0]}'?" if hint else ""
            fail(path, f"{key}.{unknown[0]}", f"unknown key (known: {', '.join(schema)}){hint}")
        missing = [k for k in schema if k not in value]
        if missing:
            fail(path, f"{key}.{missing[0]}", "missing")
        return {k: spec(value[k], f"{key}.{k}", path) for k, spec in schema.items()}

    return check


def integer(min=None, max=None):
    def check(value, key, path):
        if isinstance(value, bool) or not isinstance(value, int):
            fail(path, key, f"must be an integer, got {_show(value)}")
        _bounds(value, key, path, min, max)
        return value

    return check


def number(min=None, max=None, above=None):
    """A finite real number in [min, max], or > above."""

    def check(value, key, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(path, key, f"must be a number, got {_show(value)}")
        if not math.isfinite(value):
            fail(path, key, f"must be a finite number, got {value}")
        if above is not None and not value > above:
            fail(path, key, f"must be > {above}, got {value}")
        _bounds(value, key, path, min, max)
        return float(value)

    return check


def boolean():
    def check(value, key, path):
        if not isinstance(value, bool):
            fail(path, key, f"must be true or false, got {_show(value)}")
        return value

    return check


def string():
    def check(value, key, path):
        if not isinstance(value, str) or not value:
            fail(path, key, f"must be a non-empty string, got {_show(value)}")
        return value

    return check


def sha256():
    def check(value, key, path):
        if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
            fail(path, key, f"must be a SHA-256 as 64 lowercase hex digits, got {_show(value)}")
        return value

    return check


def choice(*options):
    def check(value, key, path):
        if value not in options:
            fail(path, key, f"must be one of {', '.join(map(str, options))}; got {_show(value)}")
        return value

    return check


def optional(spec):
    """`null` or whatever `spec` accepts."""

    def check(value, key, path):
        return None if value is None else spec(value, key, path)

    return check


def list_of(spec, unique=True, empty=False):
    """A list, each item checked by `spec`; empty only with `empty` (e.g. a grid axis that leaves a
    family out: DVC's matrix then makes no stage for it)."""

    def check(value, key, path):
        if not isinstance(value, list):
            fail(path, key, f"must be a list, got {_show(value)}")
        if not value and not empty:
            fail(path, key, "must not be empty")
        items = [spec(v, f"{key}[{i}]", path) for i, v in enumerate(value)]
        if unique:
            seen = [str(v) for v in items]
            dupes = sorted({s for s in seen if seen.count(s) > 1})
            if dupes:
                fail(path, key, f"lists {dupes[0]} twice")
        return items

    return check


def widths():
    """Layer widths in the notation of names.parse_widths: 6, [8, 16] or "8-16" -> (8, 16)."""

    def check(value, key, path):
        try:
            return names.parse_widths(value)
        except ValueError as e:
            fail(path, key, str(e))

    return check


def _bounds(value, key, path, min, max):
    if min is not None and value < min:
        fail(path, key, f"must be >= {min}, got {value}")
    if max is not None and value > max:
        fail(path, key, f"must be <= {max}, got {value}")


def _show(value):
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "null"
    return f"{value!r} ({type(value).__name__})"
