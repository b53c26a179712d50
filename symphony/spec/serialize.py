"""Experiments as plain data: dict, YAML and JSON, round-trip exact.

The dict form is also the schema of YAML experiment files, so ``symphony launch
experiment.yml`` and the Python API build the very same model: loading goes
through the public builder methods (``binds``, ``resource_limit``...), which
perform the same validation. Defaults are omitted when dumping, so a dumped file
reads like one a person would write.

Errors name where they are: ``experiment.yml:12: processes.learner.args: ...``.
"""

import io
import json
import json.decoder
import json.scanner

import yaml

from ..errors import SpecError
from .brief import brief
from .model import TOLERATION_KEYS, ExperimentSpec
from .names import _DNS_LABEL, DNS_LABEL_MAX

RESOURCE_KEYS = ("cpu", "mem", "memory", "gpu")

_MOUNT_KINDS = {"nfs", "host_path", "empty_dir", "secret", "raw"}

EXPERIMENT_KEYS = {"name": "str", "preamble_cmds": "list", "env": "dict", "secrets": "list",
                   "processes": "dict", "groups": "dict"}
GROUP_KEYS = {"preamble_cmds": "list", "env": "dict", "processes": "dict",
              "image_pull_policy": "str", "mounts": "list", "container_yml": "dict",
              "restart_policy": "str", "node_selector": "dict", "tolerations": "list",
              "labels": "dict", "image_pull_secrets": "list", "pod_yml": "dict"}
PROCESS_KEYS = {"cmds": "list", "command": "str", "args": "list", "env": "dict", "cwd": "str",
                "container_image": "str", "build_image": "str", "preamble_cmds": "list",
                "binds": "services", "exposes": "services", "connects": "list",
                "resource_request": "dict", "resource_limit": "dict",
                **{k: v for k, v in GROUP_KEYS.items() if k not in ("processes",)}}
#: pod-level keys: on a standalone process or a group, never on a process inside a group
POD_KEYS = ("restart_policy", "node_selector", "tolerations", "labels", "image_pull_secrets", "pod_yml")


class _LineDict(dict):
    """A mapping loaded from YAML or JSON that remembers the line of each key."""
    lines = None


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key appears twice in one mapping: YAML would silently keep only the last value."""

    def __init__(self, key, first_line, mark):
        super().__init__(problem=f"duplicate key {brief(key)} (first at line {first_line}): keep one of them",
                         problem_mark=mark)


#: how deeply lists and mappings may nest in an experiment file or a config: far more than any
#: needs (a pod_yml is a dozen levels), far less than what exhausts Python's stack in the parser
#: or in whatever walks the values later (validation, deepcopy, dumping a plan)
MAX_DEPTH = 100
#: how many values YAML aliases may add to a document by repeating their anchors: plenty for
#: reusing a process definition a thousand times, nothing like the 10^8 of a "billion laughs"
#: file of a few hundred bytes, which every later step would walk (and print) in full
MAX_REPEATED = 100_000
TOO_DEEP = (f"nested too deeply (more than {MAX_DEPTH} levels of lists and mappings): "
            f"an experiment needs a few levels; remove the extra ones")


class DocumentShapeError(yaml.composer.ComposerError):
    """Valid YAML that no experiment or config can be: too deep, self-containing, or exploding through aliases."""

    def __init__(self, problem, mark=None):
        super().__init__(problem=problem, problem_mark=mark)


def _check_shape(root, anchors):
    """Refuse a composed document deeper than MAX_DEPTH, containing itself through an alias, or whose
    aliases repeat more than MAX_REPEATED values. Linear in the distinct nodes, whatever they expand to."""
    names = {id(node): name for name, node in anchors.items()}
    measured, open_, repeated = {}, set(), 0

    def measure(node, depth):
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
    def compose_document(self):
        anchors = self.anchors  # the composer fills this dict, then forgets it for the next document
        node = super().compose_document()
        _check_shape(node, anchors)
        return node

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except ValueError as exc:  # a plain scalar resolved to a type it cannot be: 2020-13-45, a 5000-digit int
            kind = node.tag.rsplit(":", 1)[-1]
            reason = str(exc).split(":")[0]
            raise yaml.constructor.ConstructorError(
                problem=f"{brief(node.value)} cannot be read as a YAML {kind} ({reason}): quote it to keep it as text",
                problem_mark=node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:  # before merge keys (<<) are flattened: those may be overridden
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node)
                if key in seen:
                    raise DuplicateKeyError(key, seen[key], key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        mapping = _LineDict(super().construct_mapping(node, deep=deep))
        mapping.lines = {self.construct_object(k): k.start_mark.line + 1 for k, _ in node.value}
        return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _LineLoader.construct_mapping)


def read_yaml(stream):
    """Plain data from YAML whose mappings remember their keys' lines; a repeated key is a
    :class:`DuplicateKeyError`, a document too deep or exploding through aliases a
    :class:`DocumentShapeError` (any ``yaml.YAMLError`` has the position in ``problem_mark``)."""
    try:
        return yaml.load(stream, Loader=_LineLoader)
    except RecursionError:  # the composer recurses once per level, before _check_shape sees the document
        raise DocumentShapeError(TOO_DEEP) from None


def yaml_error_text(exc, source):
    """``source:line: problem`` for a ``yaml.YAMLError``, as every YAML reader of Symphony reports it."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{source}:{mark.line + 1}" if mark else source
    problem = getattr(exc, "problem", None) or str(exc)
    valid = isinstance(exc, (DuplicateKeyError, DocumentShapeError))  # well-formed YAML, refused for what it holds
    return f"{where}: {problem}" if valid else f"{where}: invalid YAML: {problem}"


class _Location:
    """Where in the document we are, for error messages."""

    def __init__(self, source, path="", line=None):
        self.source, self.path, self.line = source, path, line

    def child(self, node, key):
        line = (getattr(node, "lines", None) or {}).get(key, self.line)
        key = key if isinstance(key, str) and len(key) <= DNS_LABEL_MAX else brief(key)
        return _Location(self.source, f"{self.path}.{key}" if self.path else key, line)

    def descend(self, node, keys):
        """The location of ``keys`` under ``node``; a key that is absent keeps its parent's line."""
        where = self
        for key in keys:
            where = where.child(node, key)
            node = node.get(key) if isinstance(node, dict) else None
        return where

    def error(self, message, cls=SpecError):
        where = f"{self.source}:{self.line}: " if self.source and self.line else (f"{self.source}: " if self.source else "")
        return cls(f"{where}{self.path + ': ' if self.path else ''}{message}")


# --- dumping ----------------------------------------------------------------------
def _container_dict(spec):
    data = {}
    if spec.preamble_cmds:
        data["preamble_cmds"] = list(spec.preamble_cmds)
    if spec.env:
        data["env"] = dict(spec.env)
    if spec.pull_policy:
        data["image_pull_policy"] = spec.pull_policy
    if spec.mounts:
        data["mounts"] = [{**m["volume"], "mount_path": m["mount_path"], "read_only": m["read_only"]}
                          for m in spec.mounts]
    if spec.container_yml:
        data["container_yml"] = dict(spec.container_yml)
    return data


def _pod_dict(spec):
    data = {}
    if spec._restart_policy != "Never":
        data["restart_policy"] = spec._restart_policy
    for key, value in (("node_selector", spec.node_selectors), ("tolerations", spec.tolerations),
                       ("labels", spec.labels), ("image_pull_secrets", spec.image_pull_secrets),
                       ("pod_yml", spec.pod_yml)):
        if value:
            data[key] = json.loads(json.dumps(value))
    return data


def _process_dict(process):
    data = {}
    if process.cmds:
        data["cmds"] = list(process.cmds)
    if process.command is not None:
        data["command"] = process.command
    if process.args:
        data["args"] = list(process.args)
    if process.cwd is not None:
        data["cwd"] = process.cwd
    for key in ("container_image", "build_image"):
        if getattr(process, key) is not None:
            data[key] = getattr(process, key)
    for key, services in (("binds", process.bound), ("exposes", process.exposed)):
        if services:
            data[key] = dict(services)
    if process.connected:
        data["connects"] = list(process.connected)
    for key, kind in (("resource_request", "requests"), ("resource_limit", "limits")):
        if process.resources[kind]:
            data[key] = dict(process.resources[kind])
    data.update(_container_dict(process))
    if process.group is None:
        data.update(_pod_dict(process))
    return data


def experiment_to_dict(exp):
    """The experiment as plain data (only non-default values)."""
    data = {"name": exp.name}
    if exp.preamble_cmds:
        data["preamble_cmds"] = list(exp.preamble_cmds)
    if exp.env:
        data["env"] = dict(exp.env)
    if exp.secrets:
        data["secrets"] = list(exp.secrets)
    if exp.processes:
        data["processes"] = {p.name: _process_dict(p) for p in exp.processes.values()}
    if exp.groups:
        data["groups"] = {}
        for group in exp.groups.values():
            group_data = {**_container_dict(group), **_pod_dict(group)}
            group_data["processes"] = {p.name: _process_dict(p) for p in group.processes.values()}
            data["groups"][group.name] = group_data
    return data


def dump_yaml(exp, stream=None):
    return yaml.safe_dump(experiment_to_dict(exp), stream, sort_keys=False, allow_unicode=True)


def dump_json(exp, stream=None):
    text = json.dumps(experiment_to_dict(exp), indent=2, ensure_ascii=False)
    if stream is None:
        return text
    stream.write(text)
    return None


# --- the JSON Schema of experiment files ------------------------------------------
_STRING_LIST = {"type": ["string", "array"], "items": {"type": "string"}}
_PORT = {"type": ["integer", "null"], "minimum": 1, "maximum": 65535}
_SCHEMA_OF_KIND = {
    "str": {"type": "string"},
    "list": _STRING_LIST,
    "dict": {"type": "object"},
    "services": {"anyOf": [_STRING_LIST, {"type": "object", "additionalProperties": _PORT}]},
}
#: keys whose values the loader checks in more detail than their kind says
_SCHEMA_OF_KEY = {
    "env": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "node_selector": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    "resource_request": {"type": "object", "additionalProperties": False,
                         "properties": {key: {"type": ["string", "number"]} for key in RESOURCE_KEYS}},
    "tolerations": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                               "properties": {key: {} for key in TOLERATION_KEYS}}},
    "mounts": {"type": "array", "items": {
        "type": "object", "required": ["mount_path"], "additionalProperties": False,
        "oneOf": [{"required": [kind]} for kind in sorted(_MOUNT_KINDS)],  # exactly one volume kind
        "properties": {"mount_path": {"type": "string"}, "read_only": {"type": "boolean"},
                       **{kind: {"type": "object"} for kind in sorted(_MOUNT_KINDS)}}}},
}
_SCHEMA_OF_KEY["resource_limit"] = _SCHEMA_OF_KEY["resource_request"]


def _object_schema(keys, **nested):
    properties = {key: nested.get(key) or _SCHEMA_OF_KEY.get(key) or _SCHEMA_OF_KIND[kind]
                  for key, kind in keys.items()}
    return {"type": "object", "additionalProperties": False, "properties": properties}


def experiment_schema():
    """JSON Schema (draft 2020-12) of YAML/JSON experiment files, for editors and CI.

    Generated from the loader's own key tables (``EXPERIMENT_KEYS``, ``GROUP_KEYS``,
    ``PROCESS_KEYS``, ``POD_KEYS``...), so it can never accept a key the loader refuses
    or miss one it accepts. It checks the form; names, quantities and ports in use are
    still checked by the loader (``symphony launch --dry-run``).
    """
    names = {"type": "string", "pattern": _DNS_LABEL.pattern, "maxLength": DNS_LABEL_MAX}

    def processes(keys):
        return {"type": "object", "propertyNames": names, "additionalProperties": _object_schema(keys)}
    grouped = {key: kind for key, kind in PROCESS_KEYS.items() if key not in POD_KEYS}
    group = _object_schema(GROUP_KEYS, processes=processes(grouped))
    schema = _object_schema(EXPERIMENT_KEYS, name=names, processes=processes(PROCESS_KEYS),
                            groups={"type": "object", "propertyNames": names, "additionalProperties": group})
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Symphony experiment file", **schema, "required": ["name"]}


# --- loading ----------------------------------------------------------------------
_TYPE_CHECKS = {"str": (str,), "list": (list, str), "dict": (dict,), "services": (dict, list, str)}
_TYPE_NAMES = {"str": "a string", "list": "a list of strings", "dict": "a mapping",
               "services": "a name, a list of names or a mapping of names to ports"}


def _check_keys(node, allowed, where, what):
    if not isinstance(node, dict):
        raise where.error(f"{what} must be a mapping, got {type(node).__name__}")
    for key, value in node.items():
        if key not in allowed:
            raise where.child(node, key).error(
                f"unknown key {brief(key)} in {what}: allowed keys are {', '.join(sorted(allowed))}")
        kind = allowed[key]
        if value is not None and not isinstance(value, _TYPE_CHECKS[kind]):
            raise where.child(node, key).error(f"must be {_TYPE_NAMES[kind]}, got {type(value).__name__} {brief(value)}")


def _apply(where, node, key, action):
    """Run a builder call, re-raising its SpecError at the key's location."""
    if key not in node or node[key] is None:
        return
    try:
        action(node[key])
    except SpecError as exc:
        raise where.child(node, key).error(str(exc), type(exc)) from None


def _load_container(target, node, where):
    _apply(where, node, "env", target.set_envs)
    _apply(where, node, "image_pull_policy", target.image_pull_policy)
    _apply(where, node, "container_yml", target.container_yml.update)

    def mounts(items):
        for item in items:
            _load_mount(target, item)
    _apply(where, node, "mounts", mounts)


def _load_mount(target, item):
    if not isinstance(item, dict) or "mount_path" not in item:
        raise SpecError(f"each mount needs mount_path and one of {', '.join(sorted(_MOUNT_KINDS))}, got {brief(item)}")
    kinds = [k for k in item if k in _MOUNT_KINDS]
    extra = set(item) - _MOUNT_KINDS - {"mount_path", "read_only"}
    if len(kinds) != 1 or extra:
        raise SpecError(f"each mount needs mount_path and exactly one of {', '.join(sorted(_MOUNT_KINDS))}, "
                        f"got {brief(item)}")
    kind, source, read_only = kinds[0], item[kinds[0]], item.get("read_only", False)
    if not isinstance(read_only, bool):
        raise SpecError(f"mount read_only must be true or false, got {brief(read_only)}")
    if not isinstance(source, dict):
        raise SpecError(f"mount {kind} must be a mapping, e.g. {{path: /data}}, got {brief(source)}")
    builders = {"host_path": (target.mount_host_path, ("path",), ("type",)),
                "nfs": (target.mount_nfs, ("server", "path"), ())}
    if kind in builders:  # the builder's checks, so a file is refused exactly as Python is
        build, needed, optional = builders[kind]
        unknown = set(source) - set(needed) - set(optional)
        if unknown or not set(needed) <= set(source):
            raise SpecError(f"mount {kind} takes {', '.join(needed + optional)} "
                            f"({', '.join(needed)} required), got {brief(source)}")
        build(*(source[k] for k in needed), item["mount_path"], read_only,
              **{k: source[k] for k in optional if k in source})
        return
    target._mount({kind: dict(source)}, item["mount_path"], read_only)


def _as_list(value, what):
    if not isinstance(value, list):
        raise SpecError(f"{what} must be a list, got {brief(value)}")
    return value


def _load_pod(target, node, where):
    _apply(where, node, "restart_policy", target.restart_policy)
    _apply(where, node, "node_selector", lambda sel: [target.node_selector(k, v) for k, v in sel.items()])
    _apply(where, node, "tolerations", lambda items: [target.add_toleration(**_mapping(t, "toleration", TOLERATION_KEYS))
                                                      for t in _as_list(items, "tolerations")])
    _apply(where, node, "labels", lambda labels: target.add_labels(**_mapping(labels, "label")))
    _apply(where, node, "image_pull_secrets", lambda names: [target.image_pull_secret(n) for n in names])
    _apply(where, node, "pod_yml", target.pod_yml.update)


def _mapping(value, what, allowed=None):
    """``value`` as keyword arguments: a mapping with string keys (from ``allowed`` if given)."""
    if not isinstance(value, dict):
        raise SpecError(f"each {what} must be a mapping, got {brief(value)}")
    for key in value:
        if not isinstance(key, str) or (allowed is not None and key not in allowed):
            raise SpecError(f"unknown {what} key {brief(key)}: use {', '.join(allowed or ['string keys'])}")
    return value


def _load_process(parent, name, node, where, in_group):
    node = node if node is not None else {}
    allowed = {k: v for k, v in PROCESS_KEYS.items() if not (in_group and k in POD_KEYS)}
    _check_keys(node, allowed, where, f"process {brief(name)}" + (" (pod-level keys belong to its group)" if in_group else ""))
    kwargs = {k: node[k] for k in ("cmds", "command", "args", "cwd", "container_image", "build_image", "preamble_cmds")
              if node.get(k) is not None}
    try:
        process = parent.new_process(name, **kwargs)
    except SpecError as exc:
        raise where.error(str(exc), type(exc)) from None
    _apply(where, node, "binds", process.binds)
    _apply(where, node, "exposes", process.exposes)
    _apply(where, node, "connects", process.connects)
    _apply(where, node, "resource_request", lambda r: process.resource_request(**_mapping(r, "resource", RESOURCE_KEYS)))
    _apply(where, node, "resource_limit", lambda r: process.resource_limit(**_mapping(r, "resource", RESOURCE_KEYS)))
    _load_container(process, {k: v for k, v in node.items() if k != "preamble_cmds"}, where)
    if not in_group:
        _load_pod(process, node, where)
    return process


def experiment_from_dict(data, source=None, validate=False):
    """Build an :class:`ExperimentSpec` from plain data; errors name the key (and line, from YAML/JSON).

    With ``validate=True`` the document must also be a complete experiment
    (:meth:`ExperimentSpec.validate`), and what is missing is reported at its line with
    the fix spelled as file keys: a file, unlike a Python script, cannot add the
    missing process after loading.
    """
    root = _Location(source, line=1 if source else None)
    exp = _build_experiment(data, root)
    if validate:
        for problem in exp.problems():
            where = root.descend(data, problem.path)
            raise where.error(f"{problem.message}: {problem.data_fix}", problem.error)
    return exp


def _build_experiment(data, where):
    _check_keys(data, EXPERIMENT_KEYS, where, "the experiment")
    if "name" not in data:
        raise where.error("the experiment needs a name: add 'name: my-experiment'")
    try:
        exp = ExperimentSpec(data["name"], preamble_cmds=data.get("preamble_cmds"),
                             env=data.get("env"), secrets=data.get("secrets"))
    except SpecError as exc:
        raise where.child(data, "name").error(str(exc), type(exc)) from None
    processes = data.get("processes") or {}
    for name, node in processes.items():
        _load_process(exp, name, node, where.child(data, "processes").child(processes, name), in_group=False)
    groups = data.get("groups") or {}
    for name, node in groups.items():
        group_where = where.child(data, "groups").child(groups, name)
        node = node if node is not None else {}
        _check_keys(node, GROUP_KEYS, group_where, f"process group {brief(name)}")
        try:
            group = exp.new_process_group(name, preamble_cmds=node.get("preamble_cmds"))
        except SpecError as exc:
            raise group_where.error(str(exc), type(exc)) from None
        _load_container(group, {k: v for k, v in node.items() if k != "preamble_cmds"}, group_where)
        _load_pod(group, node, group_where)
        members = node.get("processes") or {}
        for process_name, process_node in members.items():
            _load_process(group, process_name, process_node,
                          group_where.child(node, "processes").child(members, process_name), in_group=True)
    return exp


def _read(source):
    """(text, name) from a path, a file object or a string of YAML/JSON."""
    if hasattr(source, "read"):
        return source.read(), getattr(source, "name", None)
    if isinstance(source, str) and "\n" not in source and (source.endswith((".yml", ".yaml", ".json"))):
        try:
            with open(source, encoding="utf-8") as handle:
                return handle.read(), source
        except OSError as exc:
            raise SpecError(f"cannot read experiment file {source}: {exc.strerror}") from None
    return source, None


def load_yaml(source, validate=False):
    """Load an experiment from a YAML file path, file object or YAML text (``validate``: see
    :func:`experiment_from_dict`)."""
    text, name = _read(source)
    name = name or "<yaml>"
    try:
        data = read_yaml(io.StringIO(text))
    except yaml.YAMLError as exc:
        raise SpecError(yaml_error_text(exc, name)) from None
    if not isinstance(data, dict):
        raise SpecError(f"{name}: an experiment file must be a mapping with 'name' and 'processes'")
    return experiment_from_dict(data, source=name, validate=validate)


def load_json(source, validate=False):
    """Load an experiment from a JSON file path, file object or JSON text (``validate``: see
    :func:`experiment_from_dict`)."""
    text, name = _read(source)
    name = name or "<json>"
    try:
        data = _LineDecoder().decode(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:  # the decoder recurses once per level
        raise SpecError(f"{name}: {TOO_DEEP}") from None
    except ValueError as exc:  # int() of a number over 4300 digits
        raise SpecError(f"{name}: a number cannot be read ({str(exc).split(':')[0]}): write it as a string") from None
    except _DuplicateJSONKey as exc:
        raise SpecError(f"{name}:{exc.line}: duplicate key {brief(exc.key)} (first at line {exc.first_line}): "
                        f"keep one of them") from None
    _check_depth(data, name)
    return experiment_from_dict(data, source=name, validate=validate)


def _check_depth(value, source, depth=1):
    """JSON's counterpart of :func:`_check_shape` (JSON has no aliases): at most MAX_DEPTH levels."""
    if depth > MAX_DEPTH:
        raise SpecError(f"{source}: {TOO_DEEP}")
    for child in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        _check_depth(child, source, depth + 1)


class _DuplicateJSONKey(Exception):
    def __init__(self, key, line, first_line):
        super().__init__(key)
        self.key, self.line, self.first_line = key, line, first_line


class _LineDecoder(json.JSONDecoder):
    """``json.loads``, but objects are :class:`_LineDict` (each key's line) and a repeated key is refused.

    The standard decoder keeps no positions and lets the last duplicate win, so objects
    are parsed here; strings, numbers and arrays still go through the standard scanner.
    """

    def __init__(self):
        super().__init__()
        self.parse_object = self._parse_object
        self.scan_once = json.scanner.py_make_scanner(self)  # the C scanner would bypass parse_object

    @staticmethod
    def _parse_object(s_and_end, strict, scan_once, *_):
        s, end = s_and_end
        mapping = _LineDict()
        mapping.lines = {}
        end = _skip_space(s, end)
        if s[end:end + 1] == "}":
            return mapping, end + 1
        while True:
            if s[end:end + 1] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", s, end)
            line = s.count("\n", 0, end) + 1
            key, end = json.decoder.scanstring(s, end + 1, strict)
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


def _skip_space(s, end):
    return json.decoder.WHITESPACE.match(s, end).end()
