"""The JSON Schema of experiment files, for editors and CI (``symphony schema``)."""

import copy
from typing import Any, Dict, Mapping

from ..fields import FIELD, FIELDS, GROUP_FIELDS, KINDS, MEMBER_FIELDS, Field, FileKey, file_keys
from ..names import _DNS_LABEL, DNS_LABEL_MAX
from .mapping import EXPERIMENT_KEYS


def _key_schema(key: FileKey) -> Dict[str, Any]:
    """The schema of one key: its own where the loader checks more than the kind says, else its kind's."""
    return key.schema or KINDS[key.kind].schema


def _object(properties: Mapping[str, Dict[str, Any]]) -> Dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": dict(properties)}


def _settings(fields: "tuple[Field, ...]") -> Dict[str, Dict[str, Any]]:
    return {key.key: _key_schema(key) for key in file_keys(fields)}


def experiment_schema() -> Dict[str, Any]:
    """JSON Schema (draft 2020-12) of YAML/JSON experiment files, for editors and CI.

    Generated from the table of fields (:data:`symphony.spec.fields.FIELDS`) and the
    experiment's keys, the very tables the loader reads, so it can never accept a key
    the loader refuses or miss one it accepts. It checks the form; names, quantities
    and ports in use are still checked by the loader (``symphony launch --dry-run``).
    """
    names = {"type": "string", "pattern": _DNS_LABEL.pattern, "maxLength": DNS_LABEL_MAX}

    def processes(fields: "tuple[Field, ...]") -> Dict[str, Any]:
        return {"type": "object", "propertyNames": names, "additionalProperties": _object(_settings(fields))}
    group = _object({**_settings(GROUP_FIELDS), "processes": processes(MEMBER_FIELDS)})
    own = {"name": names, "env": _key_schema(FIELD["env"].keys[0]), "processes": processes(FIELDS),
           "start_order": {"enum": ["declared", "services"]}, "on_timeout": {"enum": ["fail", "start"]},
           "groups": {"type": "object", "propertyNames": names, "additionalProperties": group}}
    schema = _object({key: own.get(key) or KINDS[kind].schema for key, kind in EXPERIMENT_KEYS.items()})
    return copy.deepcopy({"$schema": "https://json-schema.org/draft/2020-12/schema",
                          "title": "Symphony experiment file", **schema, "required": ["name"]})
