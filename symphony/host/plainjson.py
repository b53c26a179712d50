"""JSON read and written by the C half of the ``json`` package alone, for programs whose start-up
every process of a launch waits for (the local supervisor, the Slurm runner).

Importing ``json`` imports ``re`` (and ``enum``), about a third of such a program's start-up; the
C scanner and string encoder it wraps (``_json``) need neither. Only the standard library:
the Slurm runner loads this file by path, without the package. An interpreter without ``_json``,
or with a scanner that asks for more, gets the same answers from the ``json`` package.
"""

try:
    import _json
except ImportError:  # pragma: no cover (CPython has it)
    _json = None


class _Decoding:
    """What ``_json``'s scanner asks of its decoder: plain JSON, as ``json.loads`` reads it."""
    strict = True
    object_hook = object_pairs_hook = parse_constant = None
    parse_float, parse_int = float, int


def loads(text):
    """``json.loads(text)`` (a ``str``)."""
    text = text.strip()
    if _json is not None and text:
        try:
            return _json.make_scanner(_Decoding())(text, 0)[0]
        except (TypeError, AttributeError, StopIteration):
            pass  # another interpreter's scanner, or not JSON: the package decodes it, or says what is wrong
    import json
    return json.loads(text)


def dumps(value):
    """``json.dumps(value)`` of plain records: strings, numbers, None, booleans, and lists and dicts of
    those (ASCII, escaped as ``json.dumps`` escapes, with its separators)."""
    if _json is None:  # pragma: no cover
        import json
        return json.dumps(value)
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
        return repr(value)
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(dumps, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{dumps(str(key))}: {dumps(item)}" for key, item in value.items()) + "}"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
