"""The one table of the settings a process or a process group carries.

Each :class:`Field` says, in one place, everything the rest of Symphony needs to know
about a setting:

* where the model stores it (``attr``) and its empty value (``default``), which
  :func:`init_settings` gives every new process and group;
* its *level* in Kubernetes' split: ``CONTAINER`` (one container's: command, env,
  resources, mounts...) or ``POD`` (whatever becomes a pod: restart policy, node
  selectors, labels...);
* what a group's value means for the processes in it (``merge``): a default combined
  with the process's own (``OVERRIDE``, ``CONCAT``, ``PER_KEY``, ``PER_KIND``,
  ``LAYERS``), the pod's value itself (``POD_OWNER``: pod-level settings), or nothing
  because a group has no such setting (``OWN``: what a process runs, its image, its
  services). :meth:`Field.effective` applies it, and the model's ``effective_*()``
  methods are that call;
* its keys in the dict/YAML/JSON form (:class:`FileKey`): their kind (what the loader
  accepts before the builder checks the value, and the base of the JSON Schema), a
  finer schema where the loader checks more, how the stored value is written out
  (``dump``) and which builder call reads it back (``load``).

From this table come the model's storage, the ``effective_*()`` values, ``to_dict`` and
``from_dict``, the loader's key tables (``PROCESS_KEYS``, ``GROUP_KEYS``, ``POD_KEYS``),
``symphony schema`` and the check that a process inside a group carries no pod-level
setting. Adding a setting is one entry here (plus its builder method and its type
annotation on the model class, which ``tests/spec/test_fields.py`` checks).
"""

from __future__ import annotations

import copy
import enum
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from ..errors import SpecError
from .brief import brief
from .checks import CHECK_KINDS, CHECK_OPTIONS, ON_TIMEOUT, waits_from_data, waits_to_data

if TYPE_CHECKING:  # the model imports this module; these are for the type checker only
    from .model import ProcessGroupSpec, ProcessSpec

RESTART_POLICIES = ("Never", "OnFailure", "Always")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TOLERATION_KEYS = ("key", "operator", "value", "effect", "toleration_seconds")
#: the keywords of ``resource_request()``/``resource_limit()``, also the keys of those file keys
RESOURCE_KEYS = ("cpu", "mem", "memory", "gpu")
#: the volume kinds a mount is stored with (``{'volume': {kind: {...}}, ...}``)
MOUNT_KINDS = ("empty_dir", "host_path", "nfs", "raw", "secret")


class Level(enum.Enum):
    """Kubernetes' split, which every engine's settings follow (see :mod:`symphony.spec.model`)."""

    CONTAINER = "container"  # one process's; on a group, defaults for its processes
    POD = "pod"              # the pod's: on a group or a standalone process, never on a group's member


class Merge(NamedTuple):
    """What a group's value of a setting means for a process in the group."""

    name: str
    #: ``(group's value, process's own, the field's default) -> effective value`` (a new object);
    #: None for OWN and POD_OWNER, which have no group default to combine
    combine: Optional[Callable[[Any, Any, Any], Any]]


def _copy(value: Any) -> Any:
    """A deep copy of settings data: plain strings, numbers, lists and mappings are copied by
    hand (about ten times faster than ``copy.deepcopy``, which planning 10,000 processes
    calls a hundred thousand times); anything else goes through ``deepcopy``."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    return copy.deepcopy(value)


def _override(group: Any, own: Any, default: Any) -> Any:
    return _copy(own if own != default else group)


def _concat(group: List[Any], own: List[Any], default: List[Any]) -> List[Any]:
    return _copy(group) + _copy(own)


def _per_key(group: Dict[str, Any], own: Dict[str, Any], default: Any = None) -> Dict[str, Any]:
    return _copy({**group, **own})


def _per_kind(group: Dict[str, Dict[str, Any]], own: Dict[str, Dict[str, Any]],
              default: Dict[str, Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    kinds = list(default) + [kind for kind in [*group, *own] if kind not in default]
    return {kind: _per_key(group.get(kind, {}), own.get(kind, {})) for kind in dict.fromkeys(kinds)}


def _layers(group: Dict[str, Any], own: Dict[str, Any], default: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [_copy(layer) for layer in (group, own) if layer]


#: a process's own setting: a group has no such setting
OWN = Merge("own", None)
#: pod-level: a process in a group has none of its own, its group's is its pod's
POD_OWNER = Merge("pod", None)
#: the process's own value when it has one, else the group's
OVERRIDE = Merge("override", _override)
#: the group's items, then the process's
CONCAT = Merge("concat", _concat)
#: the group's mapping, each key overridden by the process's
PER_KEY = Merge("per-key", _per_key)
#: ``{kind: {key: value}}`` (resources: requests and limits), merged per kind, then per key
PER_KIND = Merge("per-kind", _per_kind)
#: both, as overlays an engine applies in order onto its own object: the group's, then the process's
LAYERS = Merge("layers", _layers)


class Kind(NamedTuple):
    """The form of a value in a file, checked by the loader before the builder sees it."""

    accepts: Tuple[type, ...]
    described: str           # for "must be <described>, got ..."
    schema: Dict[str, Any]   # its JSON Schema


_STRING_LIST: Dict[str, Any] = {"type": ["string", "array"], "items": {"type": "string"}}
_PORT: Dict[str, Any] = {"type": ["integer", "null"], "minimum": 1, "maximum": 65535}
KINDS: Dict[str, Kind] = {
    "str": Kind((str,), "a string", {"type": "string"}),
    "list": Kind((list, str), "a list of strings", _STRING_LIST),
    "dict": Kind((dict,), "a mapping", {"type": "object"}),
    "services": Kind((dict, list, str), "a name, a list of names or a mapping of names to ports",
                     {"anyOf": [_STRING_LIST, {"type": "object", "additionalProperties": _PORT}]}),
    "duration": Kind((int, float, str), "a number of seconds or a duration such as '5m'",
                     {"type": ["number", "string"]}),
    "waits": Kind((dict, list, str), "a name, a list of names or a mapping of names to {wait_timeout, on_timeout}",
                  {"anyOf": [_STRING_LIST, {"type": "object"}]}),
}


class FileKey(NamedTuple):
    """One key of a field in the dict/YAML/JSON form."""

    key: str
    kind: str                                      # a key of KINDS
    #: the builder call that reads the key's value onto a process or group; None: it is a
    #: keyword of the constructor (``new_process(name, cmds=...)``), whose errors are worded for it
    load: Optional[Callable[[Any, Any], object]]
    dump: Callable[[Any], Any]                     # the stored value (or part) -> plain data
    part: Optional[str] = None                     # the key holds ``value[part]`` (resources)
    schema: Optional[Dict[str, Any]] = None        # finer than the kind's, where the loader checks more


@dataclass(frozen=True)
class Field:
    """One setting of a process or a group: see the module's docstring."""

    attr: str
    level: Level
    default: Callable[[], Any]
    merge: Merge
    keys: Tuple[FileKey, ...]

    @property
    def name(self) -> str:
        """The setting's name in messages (the attribute, without a leading underscore)."""
        return self.attr.lstrip("_")

    @property
    def on_group(self) -> bool:
        """Whether a process group carries this setting too."""
        return self.merge is not OWN

    def is_set(self, owner: Any) -> bool:
        """Whether ``owner`` has a value other than the default."""
        return bool(getattr(owner, self.attr) != self.default())

    def effective(self, process: ProcessSpec) -> Any:
        """The value that applies to ``process``: its own combined with its group's (a copy)."""
        own, group = getattr(process, self.attr), process.group
        if self.merge is OWN:
            return _copy(own)
        if self.merge is POD_OWNER:
            return _copy(getattr(group if group is not None else process, self.attr))
        default = self.default()
        base = getattr(group, self.attr) if group is not None else default
        combine = self.merge.combine
        assert combine is not None, f"{self.attr}: merge rule {self.merge.name!r} combines nothing"
        return combine(base, own, default)

    def to_data(self, owner: Any) -> Dict[str, Any]:
        """``{file key: plain data}`` of ``owner``'s value, for the keys whose value is not the default."""
        value, default = getattr(owner, self.attr), self.default()
        data = {}
        for key in self.keys:
            part, empty = (value, default) if key.part is None else (value[key.part], default[key.part])
            if part != empty:
                data[key.key] = key.dump(part)
        return data


# --- how values are written out -----------------------------------------------------------------
def _same(value: Any) -> Any:
    return value


def _copied(value: Any) -> Any:
    return copy.deepcopy(value)


def _plain(value: Any) -> Any:
    """Plain JSON data (tuples become lists): what a pod-level setting is written out as."""
    return json.loads(json.dumps(value))


def _mounts_data(mounts: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """``[{kind: {...}, 'mount_path': ..., 'read_only': ...}]``: a file's mount has its volume kind as a key."""
    return [{**copy.deepcopy(m["volume"]), "mount_path": m["mount_path"], "read_only": m["read_only"]} for m in mounts]


# --- how values are read back (through the builder methods, which check them) --------------------
def _mapping(value: Any, what: str, allowed: Optional[Tuple[str, ...]] = None) -> Dict[str, Any]:
    """``value`` as keyword arguments: a mapping with string keys (from ``allowed`` if given)."""
    if not isinstance(value, dict):
        raise SpecError(f"each {what} must be a mapping, got {brief(value)}")
    for key in value:
        if not isinstance(key, str) or (allowed is not None and key not in allowed):
            raise SpecError(f"unknown {what} key {brief(key)}: use {', '.join(allowed or ['string keys'])}")
    return value


def _as_list(value: Any, what: str) -> List[Any]:
    if not isinstance(value, list):
        raise SpecError(f"{what} must be a list, got {brief(value)}")
    return value


def load_mount(target: ProcessSpec | ProcessGroupSpec, item: Any) -> None:
    """Add one mount written as in a file (``{host_path: {path: /data}, mount_path: /data}``) to ``target``."""
    kinds_text = ", ".join(MOUNT_KINDS)
    if not isinstance(item, dict) or "mount_path" not in item:
        raise SpecError(f"each mount needs mount_path and one of {kinds_text}, got {brief(item)}")
    kinds = [k for k in item if k in MOUNT_KINDS]
    extra = set(item) - set(MOUNT_KINDS) - {"mount_path", "read_only"}
    if len(kinds) != 1 or extra:
        raise SpecError(f"each mount needs mount_path and exactly one of {kinds_text}, got {brief(item)}")
    kind, source, read_only = kinds[0], item[kinds[0]], item.get("read_only", False)
    if not isinstance(read_only, bool):
        raise SpecError(f"mount read_only must be true or false, got {brief(read_only)}")
    if not isinstance(source, dict):
        raise SpecError(f"mount {kind} must be a mapping, e.g. {{path: /data}}, got {brief(source)}")
    if kind == "host_path":  # the builders' checks, so a file is refused exactly as Python is
        _check_source(kind, source, ("path",), ("type",))
        target.mount_host_path(source["path"], item["mount_path"], read_only, type=source.get("type"))
    elif kind == "nfs":
        _check_source(kind, source, ("server", "path"), ())
        target.mount_nfs(source["server"], source["path"], item["mount_path"], read_only)
    else:
        target._mount({kind: dict(source)}, item["mount_path"], read_only)


def _check_source(kind: str, source: Dict[str, Any], needed: Tuple[str, ...], optional: Tuple[str, ...]) -> None:
    if set(source) - set(needed) - set(optional) or not set(needed) <= set(source):
        raise SpecError(f"mount {kind} takes {', '.join(needed + optional)} "
                        f"({', '.join(needed)} required), got {brief(source)}")


def _load_mounts(target: ProcessSpec | ProcessGroupSpec, items: Any) -> None:
    for item in items:
        load_mount(target, item)


def _load_node_selectors(target: ProcessSpec | ProcessGroupSpec, selectors: Dict[Any, Any]) -> None:
    for key, value in selectors.items():
        target.node_selector(key, value)


def _load_tolerations(target: ProcessSpec | ProcessGroupSpec, items: Any) -> None:
    for toleration in _as_list(items, "tolerations"):
        target.add_toleration(**_mapping(toleration, "toleration", TOLERATION_KEYS))


def _load_waits(process: ProcessSpec, data: Any) -> None:
    for name, wait in waits_from_data(data).items():
        process.connects(name, wait=True, wait_timeout=wait.timeout, on_timeout=wait.on_timeout)


def _readiness_data(checks: Dict[str, Any]) -> Dict[str, Any]:
    return {name: check.to_data() for name, check in checks.items()}


def _load_image_pull_secrets(target: ProcessSpec | ProcessGroupSpec, names: Any) -> None:
    for name in [names] if isinstance(names, str) else names:  # one name, as for every other list key
        target.image_pull_secret(name)


# --- the table -------------------------------------------------------------------------------
_RESOURCE_SCHEMA: Dict[str, Any] = {"type": "object", "additionalProperties": False,
                                    "properties": {key: {"type": ["string", "number"]} for key in RESOURCE_KEYS}}
_DURATION_SCHEMA: Dict[str, Any] = {"type": ["number", "string"]}
_CHECK_SCHEMA: Dict[str, Any] = {"anyOf": [
    {"const": "tcp"},
    {"type": "object", "additionalProperties": False, "minProperties": 1,
     "oneOf": [{"required": [kind]} for kind in CHECK_KINDS],  # exactly one kind
     "properties": {"tcp": {"const": True}, "http": {"type": "string", "pattern": "^/"},
                    "command": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"},
                                                                 "minItems": 1}]},
                    "shell": {"type": "boolean"},
                    **{option: _DURATION_SCHEMA for option in CHECK_OPTIONS if option != "failure_threshold"},
                    "failure_threshold": {"type": "integer", "minimum": 1}}}]}
_WAITS_SCHEMA: Dict[str, Any] = {"anyOf": [_STRING_LIST, {"type": "object", "additionalProperties": {
    "type": ["object", "null"], "additionalProperties": False,
    "properties": {"wait_timeout": _DURATION_SCHEMA, "on_timeout": {"enum": list(ON_TIMEOUT)}}}}]}
_MOUNT_SCHEMA: Dict[str, Any] = {
    "type": "object", "required": ["mount_path"], "additionalProperties": False,
    "oneOf": [{"required": [kind]} for kind in MOUNT_KINDS],  # exactly one volume kind
    "properties": {"mount_path": {"type": "string"}, "read_only": {"type": "boolean"},
                   **{kind: {"type": "object"} for kind in MOUNT_KINDS}}}


def _field(attr: str, level: Level, kind: str, default: Callable[[], Any], merge: Merge, *,
           key: Optional[str] = None, load: Optional[Callable[[Any, Any], object]] = None,
           dump: Callable[[Any], Any] = _copied, schema: Optional[Dict[str, Any]] = None) -> Field:
    """A field with one file key (``key``, else ``attr``)."""
    return Field(attr, level, default, merge, (FileKey(key or attr, kind, load, dump, schema=schema),))


def _none() -> None:
    return None


_C, _P = Level.CONTAINER, Level.POD

#: every setting, in the order a process's keys are written out and read back
FIELDS: Tuple[Field, ...] = (
    # a process's own: what it runs, where, from which image, and the services it provides or uses
    _field("cmds", _C, "list", list, OWN),
    _field("command", _C, "str", _none, OWN, dump=_same),
    _field("args", _C, "list", list, OWN),
    _field("cwd", _C, "str", _none, OWN, dump=_same),
    _field("container_image", _C, "str", _none, OWN, dump=_same),
    _field("build_image", _C, "str", _none, OWN, dump=_same),
    _field("bound", _C, "services", dict, OWN, key="binds", load=lambda p, services: p.binds(services)),
    _field("exposed", _C, "services", dict, OWN, key="exposes", load=lambda p, services: p.exposes(services)),
    _field("connected", _C, "list", list, OWN, key="connects", load=lambda p, services: p.connects(services)),
    # (after binds/exposes and connects, which these refine: a file's keys are read in this order)
    _field("readiness", _C, "dict", dict, OWN, key="ready", load=lambda p, checks: p.set_readiness(checks),
           dump=_readiness_data, schema={"type": "object", "additionalProperties": _CHECK_SCHEMA}),
    _field("waits", _C, "waits", dict, OWN, key="wait", load=_load_waits, dump=waits_to_data, schema=_WAITS_SCHEMA),
    # container-level: a group's are defaults for its processes
    Field("resources", _C, lambda: {"requests": {}, "limits": {}}, PER_KIND, (
        FileKey("resource_request", "dict", lambda t, r: t.resource_request(**_mapping(r, "resource", RESOURCE_KEYS)),
                _copied, part="requests", schema=_RESOURCE_SCHEMA),
        FileKey("resource_limit", "dict", lambda t, r: t.resource_limit(**_mapping(r, "resource", RESOURCE_KEYS)),
                _copied, part="limits", schema=_RESOURCE_SCHEMA))),
    _field("preamble_cmds", _C, "list", list, CONCAT),
    _field("env", _C, "dict", dict, PER_KEY, load=lambda t, env: t.set_envs(env),
           schema={"type": "object", "additionalProperties": {"type": ["string", "number"]}}),
    _field("pull_policy", _C, "str", _none, OVERRIDE, key="image_pull_policy", dump=_same,
           load=lambda t, policy: t.image_pull_policy(policy)),
    _field("mounts", _C, "list", list, CONCAT, load=_load_mounts, dump=_mounts_data,
           schema={"type": "array", "items": _MOUNT_SCHEMA}),
    _field("container_yml", _C, "dict", dict, LAYERS, load=lambda t, yml: t.container_yml.update(yml)),
    # pod-level: on a group or a standalone process
    _field("_restart_policy", _P, "str", lambda: "Never", POD_OWNER, key="restart_policy", dump=_same,
           load=lambda t, policy: t.restart_policy(policy)),
    _field("node_selectors", _P, "dict", dict, POD_OWNER, key="node_selector", dump=_plain, load=_load_node_selectors,
           schema={"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}),
    _field("tolerations", _P, "list", list, POD_OWNER, dump=_plain, load=_load_tolerations,
           schema={"type": "array", "items": {"type": "object", "additionalProperties": False,
                                              "properties": {key: {} for key in TOLERATION_KEYS}}}),
    _field("labels", _P, "dict", dict, POD_OWNER, dump=_plain,
           load=lambda t, labels: t.add_labels(**_mapping(labels, "label")),
           schema={"type": "object", "additionalProperties": {"type": "string"}}),
    _field("image_pull_secrets", _P, "list", list, POD_OWNER, dump=_plain, load=_load_image_pull_secrets),
    _field("pod_yml", _P, "dict", dict, POD_OWNER, dump=_plain, load=lambda t, yml: t.pod_yml.update(yml)),
)

FIELD: Dict[str, Field] = {field.attr: field for field in FIELDS}
#: the fields a process group carries (container-level defaults and pod-level settings)
GROUP_FIELDS: Tuple[Field, ...] = tuple(field for field in FIELDS if field.on_group)
POD_FIELDS: Tuple[Field, ...] = tuple(field for field in FIELDS if field.level is Level.POD)
#: the fields a process inside a group carries (its pod-level settings are its group's)
MEMBER_FIELDS: Tuple[Field, ...] = tuple(field for field in FIELDS if field.level is not Level.POD)


def file_keys(fields: Tuple[Field, ...]) -> Iterator[FileKey]:
    """Every file key of ``fields``, in table order."""
    for field in fields:
        yield from field.keys


def init_settings(owner: Any, fields: Tuple[Field, ...]) -> None:
    """Give ``owner`` (a new process or group) the default of each of ``fields``."""
    for field in fields:
        setattr(owner, field.attr, field.default())


def _check_table() -> None:
    """The table's own rules, checked once at import: a mistake in an entry fails every test run."""
    keys = [key.key for key in file_keys(FIELDS)]
    assert len(keys) == len(set(keys)), "a file key is declared twice"
    for field in FIELDS:
        assert (field.level is Level.POD) == (field.merge is POD_OWNER), field.attr
        assert (field.merge.combine is None) == (field.merge in (OWN, POD_OWNER)), field.attr
        assert all(key.kind in KINDS for key in field.keys), field.attr
        assert all(key.part is None for key in field.keys) or field.merge is PER_KIND, field.attr


_check_table()
