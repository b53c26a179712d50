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
"""

from ..fields import MOUNT_KINDS, RESOURCE_KEYS
from .files import dump_json, dump_yaml, load_json, load_yaml
from .located import MAX_DEPTH, TOO_DEEP, LineDict, Location
from .mapping import (EXPERIMENT_KEYS, GROUP_KEYS, MEMBER_KEYS, POD_KEYS, PROCESS_KEYS, experiment_from_dict,
                      experiment_to_dict)
from .schema import experiment_schema
from .yaml_lines import MAX_REPEATED, DocumentShapeError, DuplicateKeyError, read_yaml, yaml_error_text

_LineDict = LineDict  # the name the hostile-values tests and older callers use

__all__ = ["EXPERIMENT_KEYS", "GROUP_KEYS", "MAX_DEPTH", "MAX_REPEATED", "MEMBER_KEYS", "MOUNT_KINDS", "POD_KEYS",
           "PROCESS_KEYS", "RESOURCE_KEYS", "TOO_DEEP", "DocumentShapeError", "DuplicateKeyError", "LineDict",
           "Location", "dump_json", "dump_yaml", "experiment_from_dict", "experiment_schema", "experiment_to_dict",
           "load_json", "load_yaml", "read_yaml", "yaml_error_text"]
