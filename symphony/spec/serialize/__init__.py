"""Experiments as plain data: dict, YAML and JSON, round-trip exact, with line-numbered errors.

One module per job:

* :mod:`.mapping`: the dict form <-> the model (``to_dict``/``from_dict``), driven by the
  table of fields (:mod:`symphony.spec.fields`), and the key tables the loader checks;
* :mod:`.files`: YAML/JSON text and files <-> the model (``dump_yaml``, ``load_json``...);
* :mod:`.yaml_lines` and :mod:`.json_lines`: readers whose mappings remember their keys'
  lines and that refuse repeated keys and documents no experiment can be;
* :mod:`.located`: where a value is, for messages such as ``experiment.yml:12: processes.a.args: ...``;
* :mod:`.schema`: the JSON Schema of experiment files (``symphony schema``).

Every name other code uses is importable from here.

The model imports :mod:`.mapping` and :mod:`.files` to serialise itself, so they never import
it: they build the experiment class they are given. The loaders here build
:class:`~symphony.spec.model.ExperimentSpec`, naming it only when called (this package is
imported on the model's behalf, so the dependency goes one way: model -> mapping/files,
and this package -> model).
"""

from typing import IO, TYPE_CHECKING, Any, Dict, Optional, Union

from ..fields import MOUNT_KINDS, RESOURCE_KEYS
from .files import dump_json, dump_yaml, read_json_experiment, read_yaml_experiment
from .located import MAX_DEPTH, TOO_DEEP, LineDict, Location
from .mapping import (EXPERIMENT_KEYS, GROUP_KEYS, MEMBER_KEYS, POD_KEYS, PROCESS_KEYS, build_experiment,
                      experiment_to_dict)
from .schema import experiment_schema
from .yaml_lines import MAX_REPEATED, DocumentShapeError, DuplicateKeyError, read_yaml, yaml_error_text

if TYPE_CHECKING:
    from ..model import ExperimentSpec

_LineDict = LineDict  # the name the hostile-values tests and older callers use


def experiment_from_dict(data: Dict[str, Any], source: Optional[str] = None,
                         validate: bool = False) -> "ExperimentSpec":
    """Build an :class:`~symphony.spec.model.ExperimentSpec` from plain data (see :func:`.mapping.build_experiment`)."""
    from ..model import ExperimentSpec
    return build_experiment(ExperimentSpec, data, source, validate)


def load_yaml(source: Union[str, IO[str]], validate: bool = False) -> "ExperimentSpec":
    """Load an experiment from a YAML file path, file object or YAML text (``validate``: see
    :func:`.mapping.build_experiment`)."""
    from ..model import ExperimentSpec
    return read_yaml_experiment(ExperimentSpec, source, validate)


def load_json(source: Union[str, IO[str]], validate: bool = False) -> "ExperimentSpec":
    """Load an experiment from a JSON file path, file object or JSON text (``validate``: see
    :func:`.mapping.build_experiment`)."""
    from ..model import ExperimentSpec
    return read_json_experiment(ExperimentSpec, source, validate)


__all__ = ["EXPERIMENT_KEYS", "GROUP_KEYS", "MAX_DEPTH", "MAX_REPEATED", "MEMBER_KEYS", "MOUNT_KINDS", "POD_KEYS",
           "PROCESS_KEYS", "RESOURCE_KEYS", "TOO_DEEP", "DocumentShapeError", "DuplicateKeyError", "LineDict",
           "Location", "build_experiment", "dump_json", "dump_yaml", "experiment_from_dict", "experiment_schema",
           "experiment_to_dict", "load_json", "load_yaml", "read_json_experiment", "read_yaml", "read_yaml_experiment",
           "yaml_error_text"]
