"""A user's value, shown briefly in an error message whatever its size.

Messages echo the value they refuse, so the user can find it. Echoing all of it let a
418-byte YAML file whose aliases repeat a list inside a list ("billion laughs") print one
580 MB error line, and a 200 KB argument fill the terminal. Here strings, lists and
mappings are cut with ``...`` and nesting is shown a few levels deep, so a message stays
one readable line and costs the same for any value.
"""

from __future__ import annotations

import reprlib
TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing on every command's path)
if TYPE_CHECKING:
    from typing import Any


class _Brief(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxstring = self.maxother = self.maxlong = 160
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = self.maxdeque = self.maxarray = 4
        self.maxdict = 4
        self.maxlevel = 2

    def repr1(self, x: Any, level: int) -> str:
        # reprlib picks the method by the exact type's name, so a dict subclass (the mappings the
        # loaders return remember their keys' lines) would get the builtin repr of all its contents
        for cls in type(x).__mro__:
            method = getattr(self, f"repr_{cls.__name__}", None)
            if method is not None:
                return str(method(x, level))
        return self.repr_instance(x, level)

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 200:  # str() of an int over 4300 digits raises; none is worth printing whole
            return f"<a {'negative ' if x < 0 else ''}number of about {int(x.bit_length() * 0.30103)} digits>"
        return super().repr_int(x, level)


_BRIEF = _Brief()
MAX_SHOWN = 300


def brief(value: object) -> str:
    """``repr(value)``, cut to 160 characters per string, 4 items per level, 2 levels deep, 300 in all."""
    text = _BRIEF.repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 3] + "..."
