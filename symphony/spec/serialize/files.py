"""Experiments as YAML and JSON text or files: dumping, and loading with line-numbered errors.

As in :mod:`.mapping`, the model is not imported: loaders are given the experiment class to build.
"""

from __future__ import annotations

import io
import json
from typing import IO, TYPE_CHECKING, Optional, Tuple, Type, TypeVar, Union

import yaml

from ...errors import SpecError
from .json_lines import read_json
from .mapping import build_experiment, experiment_to_dict
from .yaml_lines import read_yaml, yaml_error_text

if TYPE_CHECKING:
    from ..model import ExperimentSpec

_Experiment = TypeVar("_Experiment", bound="ExperimentSpec")


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, except that text holding a Unicode line break is written double-quoted.

    For ``'a\x85b'`` PyYAML picks the single-quoted style and writes the NEL as it is; a
    reader takes it for a line break and folds it into a space, so the value would not
    survive a dump and a load. Double-quoted, every such character is escaped.
    """


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if any(ch in text for ch in "\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
    return dumper.represent_str(text)


_Dumper.add_representer(str, _represent_text)


def dump_yaml(exp: ExperimentSpec, stream: Optional[IO[str]] = None) -> Optional[str]:
    """The experiment as YAML text, or None after writing it to ``stream``."""
    text: Optional[str] = yaml.dump(experiment_to_dict(exp), stream, Dumper=_Dumper, sort_keys=False,
                                    allow_unicode=True)
    return text


def dump_json(exp: ExperimentSpec, stream: Optional[IO[str]] = None) -> Optional[str]:
    """The experiment as JSON text, or None after writing it to ``stream``."""
    text = json.dumps(experiment_to_dict(exp), indent=2, ensure_ascii=False)
    if stream is None:
        return text
    stream.write(text)
    return None


def _read(source: Union[str, IO[str]]) -> Tuple[str, Optional[str]]:
    """(text, name) from a path, a file object or a string of YAML/JSON."""
    if hasattr(source, "read"):
        return source.read(), getattr(source, "name", None)
    if isinstance(source, str) and "\n" not in source and source.endswith((".yml", ".yaml", ".json")):
        try:
            with open(source, encoding="utf-8") as handle:
                return handle.read(), source
        except OSError as exc:
            raise SpecError(f"cannot read experiment file {source}: {exc.strerror}") from None
    return source, None


def read_yaml_experiment(cls: Type[_Experiment], source: Union[str, IO[str]], validate: bool = False) -> _Experiment:
    """Load an experiment of class ``cls`` from a YAML file path, file object or YAML text (``validate``: see
    :func:`~.mapping.build_experiment`)."""
    text, name = _read(source)
    name = name or "<yaml>"
    try:
        data = read_yaml(io.StringIO(text))
    except yaml.YAMLError as exc:
        raise SpecError(yaml_error_text(exc, name)) from None
    if not isinstance(data, dict):
        raise SpecError(f"{name}: an experiment file must be a mapping with 'name' and 'processes'")
    return build_experiment(cls, data, source=name, validate=validate)


def read_json_experiment(cls: Type[_Experiment], source: Union[str, IO[str]], validate: bool = False) -> _Experiment:
    """Load an experiment of class ``cls`` from a JSON file path, file object or JSON text (``validate``: see
    :func:`~.mapping.build_experiment`)."""
    text, name = _read(source)
    name = name or "<json>"
    return build_experiment(cls, read_json(text, name), source=name, validate=validate)
