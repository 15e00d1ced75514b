"""Read params.yaml and validate one section against a small schema, before any work starts.

A schema maps each key of a section to a spec: a function that checks one value and returns it
(normalised). Every key is required and unknown keys are refused, so a typo never passes silently.
Errors name the file and the full key, e.g. ``params.yaml: student.temperature: must be > 0``.
"""
import difflib
from pathlib import Path

import yaml

from . import Error

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


def section(name, schema, path=PARAMS_FILE, params=None):
    """Validate section `name` of params.yaml against `schema`; return the checked values."""
    params = load(path) if params is None else params
    if name not in params:
        hint = difflib.get_close_matches(name, [str(k) for k in params], n=1)
        hint = f"; found '{hint[0]}', a typo?" if hint else ""
        raise ParamsError(f"{path}: missing section '{name}'{hint}")
    return mapping(schema)(params[name], name, path)


def _fail(path, key, message):
    raise ParamsError(f"{path}: {key}: {message}")


def mapping(schema):
    def check(value, key, path):
        if not isinstance(value, dict):
            _fail(path, key, f"must be a mapping, got {_show(value)}")
        unknown = sorted(set(value) - set(schema))
        if unknown:
            hint = difflib.get_close_matches(str(unknown[0]), list(schema), n=1)
            hint = f"; did you mean '{hint[0]}'?" if hint else ""
            _fail(path, f"{key}.{unknown[0]}", f"unknown key (known: {', '.join(schema)}){hint}")
        missing = [k for k in schema if k not in value]
        if missing:
            _fail(path, f"{key}.{missing[0]}", "missing")
        return {k: spec(value[k], f"{key}.{k}", path) for k, spec in schema.items()}

    return check


def integer(min=None, max=None):
    def check(value, key, path):
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(path, key, f"must be an integer, got {_show(value)}")
        _bounds(value, key, path, min, max)
        return value

    return check


def number(min=None, max=None, above=None):
    """A real number in [min, max], or > above."""

    def check(value, key, path):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(path, key, f"must be a number, got {_show(value)}")
        if above is not None and not value > above:
            _fail(path, key, f"must be > {above}, got {value}")
        _bounds(value, key, path, min, max)
        return float(value)

    return check


def boolean():
    def check(value, key, path):
        if not isinstance(value, bool):
            _fail(path, key, f"must be true or false, got {_show(value)}")
        return value

    return check


def string():
    def check(value, key, path):
        if not isinstance(value, str) or not value:
            _fail(path, key, f"must be a non-empty string, got {_show(value)}")
        return value

    return check


def sha256():
    def check(value, key, path):
        if not (isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)):
            _fail(path, key, f"must be a SHA-256 as 64 lowercase hex digits, got {_show(value)}")
        return value

    return check


def choice(*options):
    def check(value, key, path):
        if value not in options:
            _fail(path, key, f"must be one of {', '.join(map(str, options))}; got {_show(value)}")
        return value

    return check


def optional(spec):
    """`null` or whatever `spec` accepts."""

    def check(value, key, path):
        return None if value is None else spec(value, key, path)

    return check


def list_of(spec, unique=True):
    """A non-empty list, each item checked by `spec`."""

    def check(value, key, path):
        if not isinstance(value, list):
            _fail(path, key, f"must be a list, got {_show(value)}")
        if not value:
            _fail(path, key, "must not be empty")
        items = [spec(v, f"{key}[{i}]", path) for i, v in enumerate(value)]
        if unique:
            seen = [str(v) for v in items]
            dupes = sorted({s for s in seen if seen.count(s) > 1})
            if dupes:
                _fail(path, key, f"lists {dupes[0]} twice")
        return items

    return check


def widths(min_count=1, max_count=8):
    """Layer widths: an integer (one layer), a list of integers, or a string like "8-16-32"."""

    def check(value, key, path):
        items = value
        if isinstance(value, str):
            try:
                items = [int(p) for p in value.split("-")]
            except ValueError:
                _fail(path, key, f"must be widths like 6, [8, 16] or \"8-16\", got {_show(value)}")
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [value]
        if not isinstance(items, list) or not all(
            isinstance(w, int) and not isinstance(w, bool) for w in items
        ):
            _fail(path, key, f"must be widths like 6, [8, 16] or \"8-16\", got {_show(value)}")
        if not min_count <= len(items) <= max_count:
            _fail(path, key, f"must give {min_count} to {max_count} widths, got {len(items)}")
        for w in items:
            if not 1 <= w <= 4096:
                _fail(path, key, f"widths must be between 1 and 4096, got {w}")
        return tuple(items)

    return check


def _bounds(value, key, path, min, max):
    if min is not None and value < min:
        _fail(path, key, f"must be >= {min}, got {value}")
    if max is not None and value > max:
        _fail(path, key, f"must be <= {max}, got {value}")


def _show(value):
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "null"
    return f"{value!r} ({type(value).__name__})"
