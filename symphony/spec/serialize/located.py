"""Where a value is in an experiment file, for error messages: ``experiment.yml:12: processes.a.args: ...``.

Shared by the YAML and JSON readers (which return :class:`LineDict` mappings) and by the
mapping of plain data onto the model (which reports through :class:`Location`).
"""

from typing import Any, Dict, Iterable, Optional, Type

from ...errors import SpecError
from ..brief import brief
from ..names import DNS_LABEL_MAX

#: how deeply lists and mappings may nest in an experiment file or a config: far more than any
#: needs (a pod_yml is a dozen levels), far less than what exhausts Python's stack in the parser
#: or in whatever walks the values later (validation, deepcopy, dumping a plan)
MAX_DEPTH = 100
TOO_DEEP = (f"nested too deeply (more than {MAX_DEPTH} levels of lists and mappings): "
            f"an experiment needs a few levels; remove the extra ones")


class LineDict(Dict[Any, Any]):
    """A mapping loaded from YAML or JSON that remembers the line of each key (``lines``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: Dict[Any, int] = {}


class Location:
    """Where in the document we are, for error messages."""

    def __init__(self, source: Optional[str], path: str = "", line: Optional[int] = None) -> None:
        self.source, self.path, self.line = source, path, line

    def child(self, node: object, key: Any) -> "Location":
        line = (getattr(node, "lines", None) or {}).get(key, self.line)
        name = key if isinstance(key, str) and len(key) <= DNS_LABEL_MAX else brief(key)
        return Location(self.source, f"{self.path}.{name}" if self.path else name, line)

    def descend(self, node: object, keys: Iterable[Any]) -> "Location":
        """The location of ``keys`` under ``node``; a key that is absent keeps its parent's line."""
        where = self
        for key in keys:
            where = where.child(node, key)
            node = node.get(key) if isinstance(node, dict) else None
        return where

    def error(self, message: str, cls: Type[SpecError] = SpecError) -> SpecError:
        where = f"{self.source}:{self.line}: " if self.source and self.line else (f"{self.source}: " if self.source else "")
        return cls(f"{where}{self.path + ': ' if self.path else ''}{message}")
