"""Reading YAML whose mappings remember their keys' lines, and refusing what no experiment can be.

PyYAML's safe loader, plus: a repeated key is an error (YAML keeps the last value
silently), and a document nested deeper than :data:`MAX_DEPTH`, containing itself
through an alias, or repeating more than :data:`MAX_REPEATED` values through aliases
is refused before it is built. Experiment files and Symphony's config are read here.
"""

from typing import IO, Any, Dict, Hashable, Set, Tuple, Union

import yaml

from ..brief import brief
from .located import MAX_DEPTH, TOO_DEEP, LineDict

#: how many values YAML aliases may add to a document by repeating their anchors: plenty for
#: reusing a process definition a thousand times, nothing like the 10^8 of a "billion laughs"
#: file of a few hundred bytes, which every later step would walk (and print) in full
MAX_REPEATED = 100_000


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key appears twice in one mapping: YAML would silently keep only the last value."""

    def __init__(self, key: Any, first_line: int, mark: yaml.Mark) -> None:
        super().__init__(problem=f"duplicate key {brief(key)} (first at line {first_line}): keep one of them",
                         problem_mark=mark)


class DocumentShapeError(yaml.composer.ComposerError):
    """Valid YAML that no experiment or config can be: too deep, self-containing, or exploding through aliases."""

    def __init__(self, problem: str, mark: Union[yaml.Mark, None] = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


def _check_shape(root: yaml.Node, anchors: Dict[Any, yaml.Node]) -> None:
    """Refuse a composed document deeper than MAX_DEPTH, containing itself through an alias, or whose
    aliases repeat more than MAX_REPEATED values. Linear in the distinct nodes, whatever they expand to."""
    names = {id(node): name for name, node in anchors.items()}
    measured: Dict[int, Tuple[int, int]] = {}
    open_: Set[int] = set()
    repeated = 0

    def measure(node: yaml.Node, depth: int) -> Tuple[int, int]:
        """(values under ``node`` with aliases expanded, levels of nesting), ``node`` being at ``depth``."""
        nonlocal repeated
        if not isinstance(node, yaml.CollectionNode):
            values, levels = 1, 1
        elif id(node) in open_:
            name = names.get(id(node), "?")
            raise DocumentShapeError(f"alias *{name} is inside its own anchor &{name}, so the value would contain "
                                     f"itself: write the inner value out instead", node.start_mark)
        elif id(node) in measured:
            values, levels = measured[id(node)]
            repeated += values
            if repeated > MAX_REPEATED:
                raise DocumentShapeError(
                    f"aliases (*{names.get(id(node), '?')} among them) repeat more than {MAX_REPEATED} values: no "
                    f"experiment needs that many; reuse smaller anchors or write the values out", node.start_mark)
        else:
            if depth > MAX_DEPTH:
                raise DocumentShapeError(TOO_DEEP, node.start_mark)
            open_.add(id(node))
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
            values, levels = 1, 1
            for child in children:
                child_values, child_levels = measure(child, depth + 1)
                values, levels = values + child_values, max(levels, child_levels + 1)
            open_.discard(id(node))
            measured[id(node)] = values, levels
        if depth + levels - 1 > MAX_DEPTH:  # also an alias to a deep anchor, used deeper down
            raise DocumentShapeError(TOO_DEEP, node.start_mark)
        return values, levels
    measure(root, 1)


class _LineLoader(yaml.SafeLoader):
    def compose_document(self) -> Any:
        anchors = self.anchors  # the composer fills this dict, then forgets it for the next document
        node = super().compose_document()
        if node is not None:
            _check_shape(node, anchors)
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except ValueError as exc:  # a plain scalar resolved to a type it cannot be: 2020-13-45, a 5000-digit int
            kind = node.tag.rsplit(":", 1)[-1]
            reason = str(exc).split(":")[0]
            raise yaml.constructor.ConstructorError(
                problem=f"{brief(node.value)} cannot be read as a YAML {kind} ({reason}): quote it to keep it as text",
                problem_mark=node.start_mark) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Dict[Hashable, Any]:
        seen: Dict[Any, int] = {}
        for key_node, _ in node.value:  # before merge keys (<<) are flattened: those may be overridden
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node)
                if key in seen:
                    raise DuplicateKeyError(key, seen[key], key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        mapping = LineDict(super().construct_mapping(node, deep=deep))
        mapping.lines = {self.construct_object(k): k.start_mark.line + 1 for k, _ in node.value}
        return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping)


def read_yaml(stream: Union[str, IO[str]]) -> Any:
    """Plain data from YAML whose mappings remember their keys' lines; a repeated key is a
    :class:`DuplicateKeyError`, a document too deep or exploding through aliases a
    :class:`DocumentShapeError` (any ``yaml.YAMLError`` has the position in ``problem_mark``)."""
    try:
        return yaml.load(stream, Loader=_LineLoader)
    except RecursionError:  # the composer recurses once per level, before _check_shape sees the document
        raise DocumentShapeError(TOO_DEEP) from None


def yaml_error_text(exc: yaml.YAMLError, source: str) -> str:
    """``source:line: problem`` for a ``yaml.YAMLError``, as every YAML reader of Symphony reports it."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{mark.line + 1}" if mark else source
    problem = getattr(exc, "problem", None) or str(exc)
    valid = isinstance(exc, (DuplicateKeyError, DocumentShapeError))  # well-formed YAML, refused for what it holds
    return f"{where}: {problem}" if valid else f"{where}: invalid YAML: {problem}"
