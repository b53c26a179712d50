"""Reading JSON whose objects remember their keys' lines, with one-line errors that name the line.

The standard decoder keeps no positions and lets the last of two equal keys win, so
objects are parsed here; strings, numbers and arrays still go through the standard
scanner. As for YAML, nothing nests deeper than :data:`~.located.MAX_DEPTH`.
"""

import json
import json.decoder
import json.scanner
import re
from typing import Any, Callable, Tuple

from ...errors import SpecError
from ..brief import brief
from .located import MAX_DEPTH, TOO_DEEP, LineDict

_WHITESPACE = re.compile(r"[ \t\n\r]*")  # what JSON allows between tokens (json.decoder.WHITESPACE)
# the pure-Python parts of the standard decoder, which typeshed's stubs do not declare
_make_scanner: Callable[[json.JSONDecoder], Callable[[str, int], Tuple[Any, int]]] = \
    getattr(json.scanner, "py_make_scanner")
_scanstring: Callable[[str, int, bool], Tuple[str, int]] = getattr(json.decoder, "scanstring")


def read_json(text: str, source: str) -> Any:
    """Plain data from JSON ``text`` whose objects are :class:`LineDict`; any error is a one-line
    :class:`SpecError` that starts with ``source`` (and the line, where there is one)."""
    try:
        data = _LineDecoder().decode(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{source}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:  # the decoder recurses once per level
        raise SpecError(f"{source}: {TOO_DEEP}") from None
    except ValueError as exc:  # int() of a number over 4300 digits
        raise SpecError(f"{source}: a number cannot be read ({str(exc).split(':')[0]}): write it as a string") from None
    except _DuplicateJSONKey as exc:
        raise SpecError(f"{source}:{exc.line}: duplicate key {brief(exc.key)} (first at line {exc.first_line}): "
                        f"keep one of them") from None
    _check_depth(data, source)
    return data


def _check_depth(value: Any, source: str, depth: int = 1) -> None:
    """JSON's counterpart of the YAML reader's shape check (JSON has no aliases): at most MAX_DEPTH levels."""
    if depth > MAX_DEPTH:
        raise SpecError(f"{source}: {TOO_DEEP}")
    for child in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        _check_depth(child, source, depth + 1)


class _DuplicateJSONKey(Exception):
    def __init__(self, key: str, line: int, first_line: int) -> None:
        super().__init__(key)
        self.key, self.line, self.first_line = key, line, first_line


class _LineDecoder(json.JSONDecoder):
    """``json.loads``, but objects are :class:`LineDict` (each key's line) and a repeated key is refused."""

    def __init__(self) -> None:
        super().__init__()
        self.parse_object = self._parse_object
        self.scan_once = _make_scanner(self)  # the C scanner would bypass parse_object

    @staticmethod
    def _parse_object(s_and_end: Tuple[str, int], strict: bool, scan_once: Callable[[str, int], Tuple[Any, int]],
                      *_: Any) -> Tuple[LineDict, int]:
        s, end = s_and_end
        mapping = LineDict()
        end = _skip_space(s, end)
        if s[end:end + 1] == "}":
            return mapping, end + 1
        while True:
            if s[end:end + 1] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", s, end)
            line = s.count("\n", 0, end) + 1
            key, end = _scanstring(s, end + 1, strict)
            end = _skip_space(s, end)
            if s[end:end + 1] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", s, end)
            end = _skip_space(s, end + 1)
            try:
                value, end = scan_once(s, end)
            except StopIteration as exc:
                raise json.JSONDecodeError("Expecting value", s, exc.value) from None
            if key in mapping:
                raise _DuplicateJSONKey(key, line, mapping.lines[key])
            mapping[key], mapping.lines[key] = value, line
            end = _skip_space(s, end)
            delimiter, end = s[end:end + 1], end + 1
            if delimiter == "}":
                return mapping, end
            if delimiter != ",":
                raise json.JSONDecodeError("Expecting ',' delimiter", s, end - 1)
            end = _skip_space(s, end)


def _skip_space(s: str, end: int) -> int:
    match = _WHITESPACE.match(s, end)
    assert match is not None  # the pattern matches the empty string
    return match.end()
