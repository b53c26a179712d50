"""The experiment as plain data and back: ``to_dict``/``from_dict``, round-trip exact.

The dict form is also the schema of YAML/JSON experiment files, so ``symphony launch
experiment.yml`` and the Python API build the very same model: loading goes through
the public builder methods (``binds``, ``resource_limit``...), which perform the same
validation. Defaults are omitted when dumping, so a dumped file reads like one a person
would write. The keys of processes and groups, their order, how each is written out and
read back all come from the table of fields (:mod:`symphony.spec.fields`).

Errors name where they are: ``experiment.yml:12: processes.learner.args: ...``.

The model is never imported here (it imports this module to serialise itself): the
experiment class to build is given (:func:`build_experiment`), and everything below it is
built through that experiment's own builder methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Tuple, Type, TypeVar, Union

from ...errors import SpecError
from ..brief import brief
from ..fields import FIELDS, GROUP_FIELDS, KINDS, MEMBER_FIELDS, POD_FIELDS, Field, file_keys
from .located import Location

if TYPE_CHECKING:
    from ..model import ExperimentSpec, ProcessGroupSpec, ProcessSpec

_Experiment = TypeVar("_Experiment", bound="ExperimentSpec")

#: the keys of an experiment, each with its kind (see symphony.spec.fields.KINDS)
EXPERIMENT_KEYS: Dict[str, str] = {"name": "str", "preamble_cmds": "list", "env": "dict", "secrets": "list",
                                   "start_order": "str", "wait_timeout": "duration", "on_timeout": "str",
                                   "processes": "dict", "groups": "dict"}
#: the keys of a standalone process
PROCESS_KEYS: Dict[str, str] = {key.key: key.kind for key in file_keys(FIELDS)}
#: the keys of a process group
GROUP_KEYS: Dict[str, str] = {**{key.key: key.kind for key in file_keys(GROUP_FIELDS)}, "processes": "dict"}
#: pod-level keys: on a standalone process or a group, never on a process inside a group
POD_KEYS: Tuple[str, ...] = tuple(key.key for key in file_keys(POD_FIELDS))
#: the keys of a process inside a group
MEMBER_KEYS: Dict[str, str] = {key.key: key.kind for key in file_keys(MEMBER_FIELDS)}


# --- dumping ----------------------------------------------------------------------
def _settings_data(owner: Union[ProcessSpec, ProcessGroupSpec], fields: Tuple[Field, ...]) -> Dict[str, Any]:
    data: Dict[str, Any] = {}
    for field in fields:
        data.update(field.to_data(owner))
    return data


def _process_dict(process: ProcessSpec) -> Dict[str, Any]:
    return _settings_data(process, FIELDS if process.group is None else MEMBER_FIELDS)


def experiment_to_dict(exp: ExperimentSpec) -> Dict[str, Any]:
    """The experiment as plain data (only non-default values)."""
    data: Dict[str, Any] = {"name": exp.name}
    if exp.preamble_cmds:
        data["preamble_cmds"] = list(exp.preamble_cmds)
    if exp.env:
        data["env"] = dict(exp.env)
    if exp.secrets:
        data["secrets"] = list(exp.secrets)
    data.update(exp.order_data())
    if exp.processes:
        data["processes"] = {p.name: _process_dict(p) for p in exp.processes.values()}
    if exp.groups:
        data["groups"] = {}
        for group in exp.groups.values():
            group_data = _settings_data(group, GROUP_FIELDS)
            group_data["processes"] = {p.name: _process_dict(p) for p in group.processes.values()}
            data["groups"][group.name] = group_data
    return data


# --- loading ----------------------------------------------------------------------
def _check_keys(node: Any, allowed: Mapping[str, str], where: Location, what: str) -> None:
    if not isinstance(node, dict):
        raise where.error(f"{what} must be a mapping, got {type(node).__name__}")
    for key, value in node.items():
        if key not in allowed:
            raise where.child(node, key).error(
                f"unknown key {brief(key)} in {what}: allowed keys are {', '.join(sorted(allowed))}")
        kind = KINDS[allowed[key]]
        if value is not None and not isinstance(value, kind.accepts):
            raise where.child(node, key).error(f"must be {kind.described}, got {type(value).__name__} {brief(value)}")


def _apply(where: Location, node: Dict[str, Any], key: str, action: Callable[[Any], object]) -> None:
    """Run a builder call, re-raising its SpecError at the key's location."""
    if key not in node or node[key] is None:
        return
    try:
        action(node[key])
    except SpecError as exc:
        raise where.child(node, key).error(str(exc), type(exc)) from None


def _constructor_keywords(fields: Tuple[Field, ...], node: Dict[str, Any]) -> Dict[str, Any]:
    """The values of the keys the constructor takes (``cmds``, ``preamble_cmds``...), by keyword."""
    return {key.key: node[key.key] for key in file_keys(fields) if key.load is None and node.get(key.key) is not None}


def _load_settings(target: Union[ProcessSpec, ProcessGroupSpec], fields: Tuple[Field, ...], node: Dict[str, Any],
                   where: Location) -> None:
    """Every key of ``fields`` the constructor does not take, through its builder call, in table order."""
    for key in file_keys(fields):
        load = key.load
        if load is not None:
            _apply(where, node, key.key, lambda value: load(target, value))  # noqa: B023 - called right away


def _load_process(parent: Union[ExperimentSpec, ProcessGroupSpec], name: Any, node: Any, where: Location,
                  in_group: bool) -> ProcessSpec:
    node = node if node is not None else {}
    allowed, fields = (MEMBER_KEYS, MEMBER_FIELDS) if in_group else (PROCESS_KEYS, FIELDS)
    _check_keys(node, allowed, where, f"process {brief(name)}" + (" (pod-level keys belong to its group)" if in_group else ""))
    try:
        process = parent.new_process(name, **_constructor_keywords(fields, node))
    except SpecError as exc:
        raise where.error(str(exc), type(exc)) from None
    _load_settings(process, fields, node, where)
    return process


def build_experiment(cls: Type[_Experiment], data: Dict[str, Any], source: Optional[str] = None,
                     validate: bool = False) -> _Experiment:
    """Build an experiment of class ``cls`` from plain data; errors name the key (and line, from YAML/JSON).

    With ``validate=True`` the document must also be a complete experiment
    (:meth:`ExperimentSpec.validate`), and what is missing is reported at its line with
    the fix spelled as file keys: a file, unlike a Python script, cannot add the
    missing process after loading.
    """
    root = Location(source, line=1 if source else None)
    exp = _build_experiment(cls, data, root)
    if validate:
        for problem in exp.problems():
            where = root.descend(data, problem.path)
            raise where.error(f"{problem.message}: {problem.data_fix}", problem.error)
    return exp


def _build_experiment(cls: Type[_Experiment], data: Any, where: Location) -> _Experiment:
    _check_keys(data, EXPERIMENT_KEYS, where, "the experiment")
    if "name" not in data:
        raise where.error("the experiment needs a name: add 'name: my-experiment'")
    try:
        exp = cls(data["name"], preamble_cmds=data.get("preamble_cmds"), env=data.get("env"),
                  secrets=data.get("secrets"))
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
            group = exp.new_process_group(name, **_constructor_keywords(GROUP_FIELDS, node))
        except SpecError as exc:
            raise group_where.error(str(exc), type(exc)) from None
        _load_settings(group, GROUP_FIELDS, node, group_where)
        members = node.get("processes") or {}
        for process_name, process_node in members.items():
            _load_process(group, process_name, process_node,
                          group_where.child(node, "processes").child(members, process_name), in_group=True)
    # the start order last: it applies to the connections declared above
    order_key = next((key for key in exp.ORDER_KEYS if data.get(key) is not None), None)
    if order_key is not None:
        _apply(where, data, order_key, lambda _: exp.load_order(data))
    return exp
