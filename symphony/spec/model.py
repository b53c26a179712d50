"""The backend-neutral experiment model: experiment, process group, process, services.

There is one model for every backend. A backend never subclasses it or reads it
directly: :func:`symphony.resolution.resolve` turns it into the resolved experiment
every backend translates. Settings that only some engines understand (resources, node
selectors, volumes, ``pod_yml``) live here too, so an experiment declared once
launches anywhere; what a backend does with each is its declared capability (applied,
listed in the plan as not applied, or refused in one line).

Settings follow Kubernetes' split, because it is the strictest engine:

* *container-level* settings (command, env, resources, mounts, image) belong to a
  process; on a group they are defaults for every process in it;
* *pod-level* settings (restart policy, node selectors, tolerations, labels,
  image pull secrets, ``pod_yml``) belong to whatever becomes a pod: a process
  group, or a standalone process. Calling one on a process inside a group is an
  error that names the group.

Which settings there are, where they are stored, and how a group's value combines with a
process's own (the ``effective_*()`` methods) is one table, :data:`symphony.spec.fields.FIELDS`,
which also drives the dict/YAML/JSON form and the JSON Schema of experiment files.

Every mistake that can be seen at declaration time raises a
:class:`~symphony.errors.SpecError` right away.
"""

import copy
from typing import IO, Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Type, TypeVar, Union

from ..errors import (DuplicateNameError, PodLevelSettingError, PortConflictError,
                      ServiceConflictError, SpecError, UnboundServiceError)
from . import quantities
from .brief import brief
from .checks import (DEFAULT_ON_TIMEOUT, DEFAULT_WAIT_TIMEOUT, START_ORDERS, ReadinessCheck, Wait, WaitingCycleError,
                     as_check, one_on_timeout, seconds, waiting_cycle)
from .fields import (FIELD, FIELDS, GROUP_FIELDS, POD_FIELDS, PULL_POLICIES, RESTART_POLICIES, TOLERATION_KEYS,
                     init_settings)
from .names import check_name, check_service_name, check_subdomain

__all__ = ["ExperimentSpec", "ProcessGroupSpec", "ProcessSpec", "Problem", "POD_SETTINGS", "PULL_POLICIES",
           "RESTART_POLICIES", "TOLERATION_KEYS"]

#: an amount of cpu, memory or gpu as a caller writes it: 1.5, '500m', '2G', 1
Quantity = Union[str, int, float]
#: what binds/exposes/connects take: 'a', ['a', 'b'] or {'a': 6006, 'b': None}
Services = Union[str, Sequence[str], Mapping[str, Optional[int]]]
_Container = TypeVar("_Container", bound="_ContainerSettings")
_Pod = TypeVar("_Pod", bound="_PodSettings")
_Experiment = TypeVar("_Experiment", bound="ExperimentSpec")


def _one_of(kind: str, value: object, allowed: Sequence[str]) -> str:
    for option in allowed:
        if isinstance(value, str) and value.lower() == option.lower():
            return option
    raise SpecError(f"unknown {kind} {brief(value)}: use one of {', '.join(allowed)}")


def _receivable(what: str, text: str) -> str:
    """Text every engine passes on unchanged, else a SpecError now rather than a surprise at launch.

    No program can receive a NUL byte (C strings end there): it would be truncated. A lone
    surrogate (``'\\udcff'``, what Python makes of bytes that are not UTF-8) has no UTF-8
    encoding: tmux's launch crashed on it and Docker's API silently turned it into U+FFFD.
    """
    if "\0" in text:
        raise SpecError(f"{what} contains a NUL byte, which no process can receive: remove it")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SpecError(f"{what} contains a character that cannot be encoded as UTF-8 (a lone surrogate, "
                            f"{text[exc.start]!r} at position {exc.start}): remove it or write the character "
                            f"it stands for, in {brief(text)}") from None
    return text


def _text(what: str, value: object, kinds: Tuple[type, ...] = (str, int, float)) -> str:
    """The text an engine gets for ``value``: a string, or a number (``kinds``) written out. Any other
    object is refused rather than ``str()``-ed: a list repeated inside itself is gigabytes of text."""
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise SpecError(f"{what} must be a string or a number, got {brief(value)}")
    try:
        text = str(value)
    except ValueError:  # an int of more than 4300 digits
        raise SpecError(f"{what} is a number of more than 4300 digits: write it as a string") from None
    return _receivable(what, text)


def _string_list(what: str, value: object) -> List[str]:
    """Accept a string or a list of strings; always return a new list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [_receivable(what, value)]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [_receivable(what, v) for v in value]
    raise SpecError(f"{what} must be a string or a list of strings, got {brief(value)}")


def _env_dict(what: str, value: object) -> Dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{what} must be a mapping of names to strings, got {brief(value)}")
    env: Dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise SpecError(f"{what}: invalid variable name {brief(key)}")
        _receivable(f"{what}: variable name {brief(key)}", key)
        env[key] = _text(f"{what}: value of {brief(key)}", val)
    return env


def _non_empty_string(what: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(f"{what} must be a non-empty string, got {brief(value)}")
    return value


def _check_port(service: str, port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int):
        # a quoted "6006" or `true` is a mistake of form, not a port number that is too big
        raise SpecError(f"port {brief(port)} of service {service!r} must be an integer: write it as a whole number "
                        f"from 1 to 65535 (no quotes), e.g. {{{service!r}: 6006}}")
    if not 1 <= port <= 65535:
        raise PortConflictError(f"port {brief(port)} of service {service!r} is out of range: "
                                f"use a whole number from 1 to 65535")
    return port


def _service_map(what: str, services: object) -> Dict[str, Optional[int]]:
    """Normalise the three accepted shapes: 'a', ['a', 'b'], {'a': 6006, 'b': None}."""
    if isinstance(services, str):
        services = {services: None}
    elif isinstance(services, (list, tuple)):
        if not all(isinstance(s, str) for s in services):
            raise SpecError(f"{what}() takes a name, a list of names or a mapping of names to ports, "
                            f"got {brief(services)}")
        services = {s: None for s in services}
    elif not isinstance(services, dict):
        raise SpecError(f"{what}() takes a name, a list of names or a mapping of names to ports, got {brief(services)}")
    result: Dict[str, Optional[int]] = {}
    for name, port in services.items():
        check_service_name(name)
        result[name] = None if port is None else _check_port(name, port)
    return result


def _label(key: object, value: object) -> Tuple[str, str]:
    """``(key, value)`` of a label. Values are strings on every engine. Anything else is refused
    rather than written in Python's spelling (``[1]`` -> ``"[1]"``, YAML's ``true`` -> ``"True"``)."""
    if not isinstance(value, str):
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 10**18
        example = f"'{value}'" if number else "'v1'"
        raise SpecError(f"label {brief(key)} must be a string, got {brief(value)}: write one text value, e.g. {example}")
    text = _text("label key", key)
    return text, _receivable(f"label {brief(text)}", value)


class _ContainerSettings:
    """Settings of one container; on a group, defaults for all of its processes.

    Stored as :data:`symphony.spec.fields.FIELDS` says (their defaults are set by
    :func:`~symphony.spec.fields.init_settings`); the annotations are for the type checker.
    """

    _what: str
    resources: Dict[str, Dict[str, Any]]   # {'requests': {cpu, memory, gpu}, 'limits': {...}}
    preamble_cmds: List[str]
    env: Dict[str, str]
    pull_policy: Optional[str]
    mounts: List[Dict[str, Any]]           # {'volume': {kind: {...}}, 'mount_path': ..., 'read_only': ...}
    container_yml: Dict[str, Any]

    def set_env(self: _Container, name: str, value: Union[str, int, float]) -> _Container:
        """Set one environment variable."""
        if not isinstance(name, str):
            raise SpecError(f"{self._what}: environment variable name must be a string, got {brief(name)}")
        self.env.update(_env_dict(f"{self._what} env", {name: value}))
        return self

    def set_envs(self: _Container, env: Dict[str, Any]) -> _Container:
        """Set several environment variables from a mapping."""
        self.env.update(_env_dict(f"{self._what} env", env))
        return self

    def image_pull_policy(self: _Container, policy: str) -> _Container:
        """When a container backend pulls the image: Always, IfNotPresent or Never."""
        self.pull_policy = _one_of("image pull policy", policy, PULL_POLICIES)
        return self

    def resource_request(self: _Container, cpu: Optional[Quantity] = None, mem: Optional[Quantity] = None,
                         memory: Optional[Quantity] = None, gpu: Optional[Union[int, str]] = None) -> _Container:
        """Resources the scheduler reserves (Kubernetes requests; Docker reservations)."""
        self._set_resources("requests", cpu, mem, memory, gpu)
        return self

    def resource_limit(self: _Container, cpu: Optional[Quantity] = None, mem: Optional[Quantity] = None,
                       memory: Optional[Quantity] = None, gpu: Optional[Union[int, str]] = None) -> _Container:
        """Hard caps; ``gpu`` becomes ``nvidia.com/gpu`` on Kubernetes and a device request on Docker."""
        self._set_resources("limits", cpu, mem, memory, gpu)
        return self

    def _set_resources(self, kind: str, cpu: Optional[Quantity], mem: Optional[Quantity], memory: Optional[Quantity],
                       gpu: Optional[Union[int, str]]) -> None:
        if mem is not None and memory is not None:
            raise SpecError(f"resource_{kind[:-1]}() got both mem= and memory=: give one")
        memory = memory if memory is not None else mem
        what = f"{self._what} resource_{'request' if kind == 'requests' else 'limit'}"
        target = self.resources[kind]
        if cpu is not None:
            target["cpu"] = quantities.cpu(cpu, f"{what} cpu")
        if memory is not None:
            target["memory"] = quantities.memory(memory, f"{what} memory")
        if gpu is not None:
            target["gpu"] = quantities.gpu(gpu, f"{what} gpu")

    def _mount(self: _Container, volume: Dict[str, Any], mount_path: str, read_only: bool = False) -> _Container:
        if not isinstance(mount_path, str) or not mount_path.startswith("/"):
            raise SpecError(f"{self._what}: mount_path must be an absolute path, got {brief(mount_path)}")
        _receivable(f"{self._what}: mount_path", mount_path)
        if any(m["mount_path"] == mount_path for m in self.mounts):
            raise SpecError(f"{self._what}: something is already mounted at {mount_path}")
        self.mounts.append({"volume": volume, "mount_path": mount_path, "read_only": bool(read_only)})
        return self

    def mount_nfs(self: _Container, server: str, path: str, mount_path: str, read_only: bool = False,
                  name: Optional[str] = None) -> _Container:
        """Mount an NFS export (``server:path``) at ``mount_path``. (``name``, the original's volume
        name, is accepted and unused: volumes are named from their mount path, so they never clash.)"""
        _non_empty_string(f"{self._what} mount_nfs server", server)
        _non_empty_string(f"{self._what} mount_nfs path", path)
        return self._mount({"nfs": {"server": server, "path": path}}, mount_path, read_only)

    def mount_host_path(self: _Container, path: str, mount_path: str, read_only: bool = False,
                        type: Optional[str] = None, hostpath_type: Optional[str] = None,
                        name: Optional[str] = None) -> _Container:
        """Mount a directory of the host (the node, on Kubernetes); ``hostpath_type`` is the original's
        spelling of ``type``."""
        type = type or hostpath_type or None
        _non_empty_string(f"{self._what} mount_host_path path", path)
        volume: Dict[str, Dict[str, Any]] = {"host_path": {"path": path}}
        if type:
            volume["host_path"]["type"] = type
        return self._mount(volume, mount_path, read_only)

    def mount_empty_dir(self: _Container, mount_path: str, size_limit: Optional[Quantity] = None,
                        medium: Optional[str] = None, *original: Any, **original_keywords: Any) -> _Container:
        """A scratch directory that lives as long as the pod/container. The original's form,
        ``mount_empty_dir(name, use_memory, mount_path)``, is read as it meant (a memory-backed
        directory when ``use_memory``)."""
        if original or original_keywords or (isinstance(mount_path, str) and not mount_path.startswith("/")
                                             and isinstance(medium, str) and medium.startswith("/")):
            values = dict(zip(("name", "use_memory", "mount_path"), (mount_path, size_limit, medium) + original))
            values.update(original_keywords)
            unknown = set(values) - {"name", "use_memory", "mount_path"}
            if unknown or "mount_path" not in values:
                raise SpecError(f"{self._what}: mount_empty_dir() takes (mount_path, size_limit=, medium=), or the "
                                f"original's (name, use_memory, mount_path)")
            mount_path, size_limit = values["mount_path"], None
            medium = "Memory" if values.get("use_memory") else None
        volume: Dict[str, Dict[str, Any]] = {"empty_dir": {}}
        if size_limit is not None:
            volume["empty_dir"]["size_limit"] = quantities.memory(size_limit, "empty_dir size_limit")
        if medium is not None:
            volume["empty_dir"]["medium"] = medium
        return self._mount(volume, mount_path)

    def mount_shared_memory(self: _Container, size_limit: Optional[Quantity] = None,
                            mount_path: str = "/dev/shm", name: Optional[str] = None) -> _Container:
        """Memory-backed /dev/shm (PyTorch data loaders need more than Docker's 64M). (``name``: the
        original's volume name, accepted and unused.)"""
        return self.mount_empty_dir(mount_path, size_limit=size_limit, medium="Memory")

    def mount_secret(self: _Container, secret_name: str, mount_path: str, read_only: bool = True,
                     defaultMode: Optional[int] = None, name: Optional[str] = None) -> _Container:
        """Mount an existing Kubernetes Secret (container backends only); ``defaultMode`` (the
        original's keyword) makes it a Kubernetes volume source with that file mode."""
        check_subdomain("secret", secret_name)
        if defaultMode is not None:
            if isinstance(defaultMode, bool) or not isinstance(defaultMode, int) or not 0 <= defaultMode <= 0o777:
                raise SpecError(f"{self._what}: mount_secret defaultMode must be a file mode such as 0o400, "
                                f"got {brief(defaultMode)}")
            return self.mount_volume({"secret": {"secretName": secret_name, "defaultMode": defaultMode}},
                                     mount_path, read_only)
        return self._mount({"secret": {"secret_name": secret_name}}, mount_path, read_only)

    def mount_git_repo(self: _Container, repository: str, revision: str, mount_path: str,
                       name: Optional[str] = None) -> _Container:
        """The original's git checkout volume: Kubernetes' ``gitRepo`` volume source (applied where
        Kubernetes volume sources are; refused in one line elsewhere, at launch)."""
        _non_empty_string(f"{self._what} mount_git_repo repository", repository)
        _non_empty_string(f"{self._what} mount_git_repo revision", revision)
        return self.mount_volume({"gitRepo": {"repository": repository, "revision": revision}}, mount_path)

    def mount_volume(self: _Container, volume_dict: Dict[str, Any], mount_path: str,
                     read_only: bool = False) -> _Container:
        """Mount any volume given as a Kubernetes volume source dict (without ``name``)."""
        if not isinstance(volume_dict, dict) or not volume_dict:
            raise SpecError(f"{self._what}: mount_volume() needs a Kubernetes volume source dict, e.g. {{'nfs': {{...}}}}")
        return self._mount({"raw": copy.deepcopy(volume_dict)}, mount_path, read_only)


#: pod-level settings as the model stores them (on a group, or on a standalone process)
POD_SETTINGS = tuple(field.attr for field in POD_FIELDS)


class _PodSettings:
    """Settings of whatever becomes a pod: a process group or a standalone process (stored as
    :data:`symphony.spec.fields.FIELDS` says, like the container-level ones)."""

    _restart_policy: str
    node_selectors: Dict[str, str]
    tolerations: List[Dict[str, Any]]
    labels: Dict[str, str]
    image_pull_secrets: List[str]
    pod_yml: Dict[str, Any]

    def _pod_level(self, method: str) -> None:
        """Hook for ProcessSpec: refuse pod-level calls on processes inside a group."""

    def restart_policy(self: _Pod, policy: str) -> _Pod:
        """Never (default), OnFailure or Always; restarts back off exponentially."""
        self._pod_level("restart_policy")
        self._restart_policy = _one_of("restart policy", policy, RESTART_POLICIES)
        return self

    def node_selector(self: _Pod, key: Union[str, int, float, bool], value: Union[str, int, float, bool]) -> _Pod:
        """Only schedule on nodes labelled ``key=value`` (Kubernetes)."""
        self._pod_level("node_selector")
        text = _text("node selector key", key, (str, int, float, bool))
        self.node_selectors[text] = _text(f"node selector {brief(text)}", value, (str, int, float, bool))
        return self

    def add_toleration(self: _Pod, **toleration: Any) -> _Pod:
        """Tolerate a node taint, e.g. ``add_toleration(key='surreal', operator='Exists', effect='NoExecute')``."""
        self._pod_level("add_toleration")
        unknown = set(toleration) - set(TOLERATION_KEYS)
        if unknown:
            raise SpecError(f"add_toleration() got unknown keys {brief(sorted(unknown))}: use {', '.join(TOLERATION_KEYS)}")
        self.tolerations.append(dict(toleration))
        return self

    def add_label(self: _Pod, key: str, value: str) -> _Pod:
        """Add a label to the pod/container (handy for selecting with kubectl or docker ps)."""
        self._pod_level("add_label")
        text, label = _label(key, value)
        self.labels[text] = label
        return self

    def add_labels(self: _Pod, **labels: str) -> _Pod:
        """Add several labels (``add_labels(team='rl', run='3')``)."""
        self._pod_level("add_labels")
        for key, value in labels.items():
            text, label = _label(key, value)
            self.labels[text] = label
        return self

    def image_pull_secret(self: _Pod, name: str) -> _Pod:
        """Name of a registry credential Secret used to pull private images."""
        self._pod_level("image_pull_secret")
        self.image_pull_secrets.append(check_subdomain("image pull secret", name))
        return self


class ProcessSpec(_ContainerSettings, _PodSettings):
    """One process: a command line plus its services and settings.

    Give either ``cmds`` (shell lines run in order in one shell) or
    ``command``/``args`` (exec form: arguments arrive verbatim, never re-split).
    """

    # a process's own settings (the container- and pod-level ones come from the mixins); all are
    # stored as symphony.spec.fields.FIELDS says, and these annotations are for the type checker
    cmds: List[str]
    command: Optional[str]
    args: List[str]
    cwd: Optional[str]
    container_image: Optional[str]
    build_image: Optional[str]
    bound: Dict[str, Optional[int]]      # service -> fixed port or None
    exposed: Dict[str, Optional[int]]
    connected: List[str]
    readiness: Dict[str, ReadinessCheck]  # bound or exposed service -> its declared check (else TCP)
    waits: Dict[str, Wait]               # connected service -> how this process waits for it

    def __init__(self, name: str, cmds: Union[str, Sequence[str], None] = None, *,
                 command: Union[str, Sequence[str], None] = None,
                 args: Optional[Sequence[str]] = None, env: Optional[Dict[str, Any]] = None, cwd: Optional[str] = None,
                 start_dir: Optional[str] = None, container_image: Optional[str] = None,
                 build_image: Optional[str] = None, preamble_cmds: Union[str, Sequence[str], None] = None,
                 group: Optional["ProcessGroupSpec"] = None, experiment: Optional["ExperimentSpec"] = None,
                 cmd: Optional[str] = None) -> None:
        self.name = check_name("process", name)
        self._what = f"process {name!r}"
        init_settings(self, FIELDS)
        self.group = group
        self.experiment = experiment
        if cmd is not None:  # the original subprocess backend's one shell command
            if cmds is not None:
                raise SpecError(f"process {name!r}: cmd= is one shell line and cmds= a list of them: give one")
            if not isinstance(cmd, str):
                raise SpecError(f"process {name!r}: cmd= must be one shell line (a string), got {brief(cmd)}")
            cmds = [cmd]
        if isinstance(command, (list, tuple)) and command and all(isinstance(c, str) for c in command):
            # the original Kubernetes form, command=['python', '-u']: the program, then its first arguments
            command, args = command[0], list(command[1:]) + _string_list(f"process {name!r} args", args)
        if cmds is not None and (command is not None or args is not None):
            raise SpecError(f"process {name!r}: give either cmds=[...] (shell lines) or command=/args= (exec form), not both")
        self.cmds = _string_list(f"process {name!r} cmds", cmds)
        if command is not None and not isinstance(command, str):
            raise SpecError(f"process {name!r}: command must be a string (the program), put its arguments in args=[...]")
        self.command = None if command is None else _receivable(f"process {name!r} command", command)
        self.args = _string_list(f"process {name!r} args", args)
        if cwd is not None and start_dir is not None and cwd != start_dir:
            raise SpecError(f"process {name!r}: cwd and start_dir are the same setting: give one")
        self.cwd = cwd if cwd is not None else start_dir
        if self.cwd is not None and not isinstance(self.cwd, str):
            raise SpecError(f"process {name!r}: cwd must be a path string, got {brief(self.cwd)}")
        if self.cwd is not None:
            _receivable(f"process {name!r} cwd", self.cwd)
        self.container_image = container_image
        self.build_image = build_image
        self.env = _env_dict(f"process {name!r} env", env)
        self.preamble_cmds = _string_list(f"process {name!r} preamble_cmds", preamble_cmds)

    @property
    def key(self) -> str:
        """``group/name`` inside a group, else ``name``: unique in the experiment."""
        return f"{self.group.name}/{self.name}" if self.group else self.name

    @property
    def pod_name(self) -> str:
        """Name of the unit that shares a network namespace: the group, or the process itself."""
        return self.group.name if self.group else self.name

    def _pod_level(self, method: str) -> None:
        if self.group is not None:
            raise PodLevelSettingError(
                f"{method}() is a pod-level setting and process {self.name!r} belongs to process group "
                f"{self.group.name!r}: call it on the group instead")

    # --- networking -------------------------------------------------------------
    def binds(self, services: Services, ready: Optional[ReadinessCheck] = None) -> "ProcessSpec":
        """Provide a service: ``'a'``, ``['a', 'b']`` or ``{'tensorboard': 6006}`` (fixed port).

        ``ready=`` (``tcp()``, ``http('/healthz')``, ``command([...])`` from :mod:`symphony.readiness`)
        says when each named service is ready; without it, when its port accepts a TCP connection.
        """
        services = _service_map("binds", services)
        check = None if ready is None else as_check(ready, self._what)
        self._register_services(services)
        self.bound.update(services)
        self._add_readiness(services, check)
        return self

    def exposes(self, services: Services, ready: Optional[ReadinessCheck] = None) -> "ProcessSpec":
        """Provide a service that is also reachable from outside the experiment (``symphony visit``);
        ``ready=`` as for :meth:`binds`."""
        services = _service_map("exposes", services)
        check = None if ready is None else as_check(ready, self._what)
        self._register_services(services)
        self.exposed.update(services)
        self._add_readiness(services, check)
        return self

    def set_readiness(self, checks: Mapping[str, Any]) -> "ProcessSpec":
        """Declare the readiness check of services this process already provides,
        ``{'replay': http('/healthz')}`` (what a file's ``ready:`` key reads into)."""
        if not isinstance(checks, Mapping):
            raise SpecError(f"{self._what}: ready must map service names to checks, e.g. "
                            f"{{'replay': http('/healthz')}}, got {brief(checks)}")
        for service, check in checks.items():
            if service not in self.bound and service not in self.exposed:
                raise SpecError(f"{self._what} has a readiness check for service {brief(service)} but does not "
                                f"provide it: bind it with binds({service!r}, ready=...)")
            self.readiness[service] = as_check(check, f"{self._what} service {service!r}")
        return self

    def _add_readiness(self, services: Dict[str, Optional[int]], check: Optional[ReadinessCheck]) -> None:
        if self.experiment is not None and self.experiment._waiting:
            try:
                self.experiment._refuse_cycle_through(self)  # a service that closes a ring of waits
            except SpecError:
                for name in services:
                    self.bound.pop(name, None)
                    self.exposed.pop(name, None)
                raise
        if check is not None:
            self.readiness.update({name: check for name in services})

    def connects(self, services: Services, wait: bool = False, wait_timeout: Union[float, str, None] = None,
                 on_timeout: Optional[str] = None) -> "ProcessSpec":
        """Declare that this process uses a service; launch fails early if nobody binds it.

        ``wait=True`` holds this process until each service is ready (its provider's readiness
        check passes), for at most ``wait_timeout`` (seconds or ``'5m'``; default the experiment's,
        else 5 minutes); then ``on_timeout='fail'`` (default) does not start it, ``'start'``
        starts it anyway.
        """
        names = _service_map("connects", services)
        if not isinstance(wait, bool):
            raise SpecError(f"{self._what}: connects() wait= must be True or False, got {brief(wait)}")
        if not wait and (wait_timeout is not None or on_timeout is not None):
            raise SpecError(f"{self._what}: connects() got wait_timeout/on_timeout without wait=True: add wait=True")
        declared = Wait(wait_timeout, on_timeout, f"{self._what} connects()") if wait else None
        before = (list(self.connected), dict(self.waits))
        for name in names:
            if name not in self.connected:
                self.connected.append(name)
            if declared is not None:
                self.waits[name] = declared
        if self.experiment is not None and (declared is not None or self.experiment._waiting):
            try:
                self.experiment._refuse_cycle_through(self)
            except SpecError:
                self.connected, self.waits = before
                raise
            self.experiment._waiting = True
        return self

    def waits_for(self) -> Dict[str, Wait]:
        """The services this process waits for, each with its own or the experiment's deadline and
        deadline behaviour filled in (every connection under ``exp.start_order('services')``, except
        to a service the process provides itself)."""
        exp = self.experiment
        timeout = exp.wait_timeout if exp is not None else DEFAULT_WAIT_TIMEOUT
        on_timeout = exp.on_timeout if exp is not None else DEFAULT_ON_TIMEOUT
        names = list(self.waits)
        if exp is not None and exp.order == "services":
            names += [name for name in self.connected
                      if name not in self.waits and name not in self.bound and name not in self.exposed]
        result = {}
        for name in names:
            declared = self.waits.get(name)
            result[name] = Wait(declared.timeout if declared is not None and declared.timeout is not None else timeout,
                                declared.on_timeout if declared is not None and declared.on_timeout else on_timeout)
        return result

    # The original Symphony spelled these in both forms, and experiments written for it use both.
    bind, expose, connect = binds, exposes, connects

    # --- the original Docker backend's calls ----------------------------------------
    def set_port(self, port: Union[int, str]) -> "ProcessSpec":
        """Publish a port of the container on this machine, as the original Docker backend's
        ``set_port`` did: the port is exposed as service ``port-<N>``, so every process gets
        ``SYMPH_PORT_<N>_HOST/_PORT`` and ``symphony visit port-<N> -u`` prints where it is
        published. ``'HOST:CONTAINER'`` publishes CONTAINER; the engine picks the host port
        (printed by ``visit``), so two experiments never collide; a note on stderr says so."""
        if isinstance(port, str) and ":" in port:
            host, _, container = port.rpartition(":")
            container_port = _check_port(f"port-{container}", int(container)) if container.isdigit() else None
            if container_port is None or not host.split(":")[-1].isdigit():
                raise SpecError(f"{self._what}: set_port() takes a port or 'HOST:CONTAINER' such as '1234:4321', "
                                f"got {brief(port)}")
            import sys
            print(f"note: {self._what}: set_port({port!r}) publishes container port {container_port}; the host port is "
                  f"chosen at launch (`symphony visit port-{container_port} -u` prints it)", file=sys.stderr)
            port = container_port
        elif isinstance(port, str) and port.isdigit():
            port = int(port)
        number = _check_port(f"port-{port}", port)
        if self.exposed.get(f"port-{number}") == number:
            return self
        return self.exposes({f"port-{number}": number})

    def set_ports(self, ports: Sequence[Union[int, str]]) -> "ProcessSpec":
        """:meth:`set_port` for each of ``ports``, e.g. ``['1234:4321', 10, 55555]``."""
        if isinstance(ports, (str, int)) or not isinstance(ports, (list, tuple)):
            raise SpecError(f"{self._what}: set_ports() takes a list of ports, got {brief(ports)}: "
                            f"use set_port() for one")
        for port in ports:
            self.set_port(port)
        return self

    def set_hostname(self, hostname: str) -> "ProcessSpec":
        """The original Docker backend's container hostname. Each container is named after its
        process (a group's processes share their group's network namespace, named after the
        group), and other processes reach it by that name through ``binds``/``connects``; a
        different hostname is not applied, which a note on stderr says."""
        check_name("hostname", hostname)
        if hostname != self.pod_name:
            import sys
            print(f"note: {self._what}: set_hostname({hostname!r}) is not applied: its host name is "
                  f"{self.pod_name!r} (containers are named after their process, or their group inside a group); "
                  f"other processes find it through binds/connects (SYMPH_<SERVICE>_HOST)", file=sys.stderr)
        return self

    # --- the original's attribute names ---------------------------------------------
    @property
    def parent_experiment(self) -> Optional["ExperimentSpec"]:
        return self.experiment

    @property
    def parent_process_group(self) -> Optional["ProcessGroupSpec"]:
        return self.group

    @property
    def binded_services(self) -> Dict[str, Optional[int]]:
        """The services this process binds (today's ``bound``), a copy: declare more with ``binds``."""
        return dict(self.bound)

    @property
    def exposed_services(self) -> Dict[str, Optional[int]]:
        return dict(self.exposed)

    @property
    def connected_services(self) -> Dict[str, None]:
        return {name: None for name in self.connected}

    def yml(self) -> str:
        """The original printed a process's own Kubernetes or compose YAML; what a backend makes of a
        process now depends on the whole experiment, so it is refused with the way to see it."""
        raise SpecError(f"{self._what}: yml() is gone: print what a backend would create with "
                        f"cluster.launch(exp, dry_run=True) (or `symphony launch FILE --dry-run`)")

    # --- the original Kubernetes backend's calls ------------------------------------
    def set_command(self, command: Union[str, Sequence[str]]) -> "ProcessSpec":
        """The program (exec form); a list is the program and its first arguments."""
        if isinstance(command, (list, tuple)) and command and all(isinstance(c, str) for c in command):
            self.args = list(command[1:]) + self.args
            command = command[0]
        if not isinstance(command, str) or not command:
            raise SpecError(f"{self._what}: set_command() takes the program, e.g. 'python', got {brief(command)}")
        if self.cmds:
            raise SpecError(f"{self._what}: has shell lines (cmds); give either cmds or command/args, not both")
        self.command = _receivable(f"{self._what} command", command)
        return self

    def set_args(self, args: Union[str, Sequence[str]]) -> "ProcessSpec":
        """The arguments of the exec form, verbatim."""
        if self.cmds:
            raise SpecError(f"{self._what}: has shell lines (cmds); give either cmds or command/args, not both")
        self.args = _string_list(f"{self._what} args", args)
        return self

    def _register_services(self, services: Dict[str, Optional[int]]) -> None:
        for name, port in services.items():
            if name in self.bound or name in self.exposed:
                raise ServiceConflictError(f"process {self.name!r} already provides service {name!r}: declare it once")
        if self.experiment is not None:
            self.experiment._check_new_services(self, services)

    # --- effective values (group defaults + own) ----------------------------------
    def effective(self, setting: str) -> Any:
        """The value of ``setting`` (an attribute, e.g. ``'env'``) that applies to this process, as a new
        object: its own combined with its group's by the rule of its entry in the table of fields."""
        return FIELD[setting].effective(self)

    def effective_env(self) -> Dict[str, str]:
        """The group's variables, each overridden by the process's own (the experiment's are not included)."""
        return self.effective("env")

    def effective_preamble(self) -> List[str]:
        """The group's preamble lines, then the process's."""
        return self.effective("preamble_cmds")

    def effective_mounts(self) -> List[Dict[str, Any]]:
        """The group's mounts, then the process's."""
        return self.effective("mounts")

    def effective_pull_policy(self) -> Optional[str]:
        """The process's image pull policy, else its group's, else None (the engine's default)."""
        return self.effective("pull_policy")

    def effective_resources(self) -> Dict[str, Dict[str, Any]]:
        """``{'requests': {...}, 'limits': {...}}``: the group's amounts, each overridden by the process's own."""
        return self.effective("resources")

    def effective_container_yml(self) -> List[Dict[str, Any]]:
        """The ``container_yml`` overlays to apply in order onto the engine's container: the group's, then the
        process's (each only when set)."""
        return self.effective("container_yml")

    def effective_restart_policy(self) -> str:
        """The restart policy of the process's pod: its group's, or its own when standalone."""
        return self.effective("_restart_policy")

    def __repr__(self) -> str:
        return f"ProcessSpec({self.key!r})"


class ProcessGroupSpec(_ContainerSettings, _PodSettings):
    """Processes that share a network namespace (a Kubernetes pod, a Docker network namespace)."""

    def __init__(self, name: str, preamble_cmds: Union[str, Sequence[str], None] = None,
                 env: Optional[Dict[str, Any]] = None, experiment: Optional["ExperimentSpec"] = None) -> None:
        self.name = check_name("process group", name)
        self._what = f"process group {name!r}"
        init_settings(self, GROUP_FIELDS)
        self.experiment = experiment
        self.preamble_cmds = _string_list(f"process group {name!r} preamble_cmds", preamble_cmds)
        self.env = _env_dict(f"process group {name!r} env", env)
        self.processes: Dict[str, ProcessSpec] = {}

    def new_process(self, name: str, cmds: Union[str, Sequence[str], None] = None, **kwargs: Any) -> ProcessSpec:
        """Add a process to this group; same arguments as ``ExperimentSpec.new_process``."""
        if name in self.processes:
            raise DuplicateNameError(f"process group {self.name!r} already has a process named {name!r}: choose another name")
        if self.experiment is not None:
            cmds, kwargs = self.experiment._original_arguments(cmds, kwargs)
        process = ProcessSpec(name, cmds, group=self, experiment=self.experiment, **kwargs)
        self.processes[name] = process
        return process

    def add_process(self, process: "ProcessSpec") -> "ProcessSpec":
        """Add a process made on its own (``ProcessSpec('a', ...)``), as the original's
        ``add_process`` did; it joins this group and its experiment."""
        _check_detached(process)
        if process.name in self.processes:
            raise DuplicateNameError(f"process group {self.name!r} already has a process named {process.name!r}: "
                                     f"choose another name")
        if self.experiment is not None:
            self.experiment._check_services_of(process)
        process.group, process.experiment = self, self.experiment
        self.processes[process.name] = process
        return process

    def add_processes(self, processes: Sequence["ProcessSpec"]) -> None:
        for process in processes:
            self.add_process(process)

    def get_process(self, name: str) -> ProcessSpec:
        try:
            return self.processes[name]
        except KeyError:
            raise SpecError(f"process group {self.name!r} has no process {brief(name)}: it has {', '.join(self.processes) or 'none'}") from None

    def list_processes(self) -> List[ProcessSpec]:
        return list(self.processes.values())

    def __repr__(self) -> str:
        return f"ProcessGroupSpec({self.name!r})"


def _check_detached(process: object) -> None:
    if not isinstance(process, ProcessSpec) or process.experiment is not None or process.group is not None:
        raise SpecError(f"add_process() takes a ProcessSpec that belongs to no experiment or group yet, got "
                        f"{brief(process)}: use new_process(name, ...)")


class Problem(NamedTuple):
    """One thing :meth:`ExperimentSpec.validate` refuses (see :meth:`ExperimentSpec.problems`)."""

    error: Type[SpecError]   # the SpecError subclass to raise
    message: str
    path: Tuple[str, ...]    # keys leading to it in the dict/YAML form, e.g. ('groups', 'g')
    python_fix: str
    data_fix: str        # the same fix, for a YAML or JSON experiment file


class ExperimentSpec:
    """An experiment: standalone processes and process groups, plus experiment-wide settings."""

    #: set by the Docker backend's ``new_experiment``: a string second argument of ``new_process``
    #: that is an image reference is the image, as the original Docker backend read it
    image_as_second_argument = False

    def __init__(self, name: str, preamble_cmds: Union[str, Sequence[str], None] = None,
                 env: Optional[Dict[str, Any]] = None, secrets: Union[str, Sequence[str], None] = None,
                 start_dir: Optional[str] = None) -> None:
        self.name = check_name("experiment", name)
        self.preamble_cmds = _string_list(f"experiment {name!r} preamble_cmds", preamble_cmds)
        self.env = _env_dict(f"experiment {name!r} env", env)
        self.secrets = _string_list(f"experiment {name!r} secrets", secrets)
        self.processes: Dict[str, ProcessSpec] = {}
        self.groups: Dict[str, ProcessGroupSpec] = {}
        if start_dir is not None and not isinstance(start_dir, str):
            raise SpecError(f"experiment {name!r}: start_dir must be a path string, got {brief(start_dir)}")
        #: the original tmux backend's directory where processes start unless they say otherwise
        #: (each process created afterwards gets it as its ``cwd``, so files record it per process)
        self.start_dir = None if start_dir is None else _receivable("start_dir", start_dir)
        #: which connections wait for their service to be ready (see :meth:`start_order`)
        self.order = START_ORDERS[0]
        #: the deadline and deadline behaviour of every wait that does not declare its own
        self.wait_timeout = DEFAULT_WAIT_TIMEOUT
        self.on_timeout = DEFAULT_ON_TIMEOUT
        #: whether anything waits yet: declaring services looks for rings of waits only then
        self._waiting = False
        #: service -> provider, kept between declarations (see :meth:`_known_providers`)
        self._providers: Dict[str, ProcessSpec] = {}
        self._providers_stamp: Tuple[int, ...] = ()
        self._services_declared = 0
        #: service -> the process that declared it, and fixed port -> its service, as declared (an entry
        #: a later refusal took back is stale: each lookup checks it still holds; see _check_new_services)
        self._declared_providers: Dict[str, ProcessSpec] = {}
        self._declared_ports: Dict[int, str] = {}

    def start_order(self, order: str = "services", wait_timeout: Union[float, str, None] = None,
                    on_timeout: Optional[str] = None) -> "ExperimentSpec":
        """``'services'``: every connecting process waits until the services it connects to are ready;
        ``'declared'`` (the default): only connections declared with ``wait=True`` wait.

        ``wait_timeout`` (seconds or ``'5m'``; default 5 minutes) and ``on_timeout`` (``'fail'``: the
        process is not started, the default; ``'start'``: it starts anyway) apply to every wait that
        does not declare its own.
        """
        if order not in START_ORDERS:
            raise SpecError(f"experiment {self.name!r}: unknown start order {brief(order)}: use 'services' (every "
                            f"connection waits for its service to be ready) or 'declared' (only wait=True ones)")
        timeout = self.wait_timeout if wait_timeout is None else seconds(
            f"experiment {self.name!r} wait_timeout", wait_timeout)
        behaviour = self.on_timeout if on_timeout is None else one_on_timeout(f"experiment {self.name!r}", on_timeout)
        previous = (self.order, self._waiting)
        self.order, self._waiting = order, self._waiting or order == "services"
        try:
            for process in self.list_all_processes():
                self._refuse_cycle_through(process)
        except SpecError:
            self.order, self._waiting = previous
            raise
        self.wait_timeout, self.on_timeout = timeout, behaviour
        return self

    #: the experiment's keys of :meth:`start_order` in the file form, read by :meth:`load_order`
    ORDER_KEYS = ("start_order", "wait_timeout", "on_timeout")

    def order_data(self) -> Dict[str, Any]:
        """The file form of :meth:`start_order` (``start_order``, ``wait_timeout``, ``on_timeout``): only
        what differs from the defaults."""
        data: Dict[str, Any] = {}
        if self.order != START_ORDERS[0]:
            data["start_order"] = self.order
        if self.wait_timeout != DEFAULT_WAIT_TIMEOUT:
            data["wait_timeout"] = int(self.wait_timeout) if self.wait_timeout.is_integer() else self.wait_timeout
        if self.on_timeout != DEFAULT_ON_TIMEOUT:
            data["on_timeout"] = self.on_timeout
        return data

    def load_order(self, data: Mapping[str, Any]) -> "ExperimentSpec":
        """Apply a file's ``start_order``/``wait_timeout``/``on_timeout`` (after its processes, so a
        ring of waits is named as :meth:`start_order` names it)."""
        if any(data.get(key) is not None for key in self.ORDER_KEYS):
            self.start_order(data.get("start_order") or self.order, data.get("wait_timeout"), data.get("on_timeout"))
        return self

    def _waiting_edges(self, providers: Mapping[str, "ProcessSpec"], process: "ProcessSpec"
                       ) -> List[Tuple[str, "ProcessSpec"]]:
        """(service, its provider) for each service ``process`` waits for that some process provides."""
        return [(name, providers[name]) for name in process.waits_for() if name in providers]

    def _cycle_text(self, cycle: List["ProcessSpec"], providers: Mapping[str, "ProcessSpec"]) -> Tuple[str, str, str]:
        """The message of a ring of waits, and its fix for Python and for files."""
        steps = []
        for process, following in zip(cycle, cycle[1:]):
            name = next(name for name, provider in self._waiting_edges(providers, process) if provider is following)
            steps.append((process, name))
        ring = " -> ".join(process.key for process in cycle)
        message = (f"processes wait for each other in a cycle, so none could start: {ring} "
                   f"({', '.join(f'{process.key} waits for {name!r}' for process, name in steps)})")
        if all(name in process.waits for process, name in steps):
            return (message, "connect without wait=True on one of these connections",
                    "remove one of these services from its process's `wait:`")
        return (message, "exp.start_order('services') makes every connection wait: use exp.start_order('declared') "
                         "and connects(name, wait=True) on the connections that must wait",
                "use `start_order: declared` and list the services that must be waited for under each process's `wait:`")

    def _refuse_cycle_through(self, process: "ProcessSpec") -> None:
        """Refuse, now, a ring of waits that passes through ``process`` (only what it reaches is searched)."""
        if not process.waits_for():
            return  # a ring through it would leave it by one of its own waits
        providers = self._known_providers()
        path: List["ProcessSpec"] = [process]
        stack = [iter(self._waiting_edges(providers, process))]
        seen = {id(process)}
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                path.pop()
                continue
            following = step[1]
            if following is process:
                message, python_fix, _ = self._cycle_text(path + [process], providers)
                raise WaitingCycleError(f"{message}: {python_fix}")
            if id(following) not in seen:
                seen.add(id(following))
                path.append(following)
                stack.append(iter(self._waiting_edges(providers, following)))

    @property
    def lone_processes(self) -> Dict[str, ProcessSpec]:
        """The original's name for the standalone processes (``processes``), a copy."""
        return dict(self.processes)

    @property
    def process_groups(self) -> Dict[str, "ProcessGroupSpec"]:
        """The original's name for ``groups``, a copy."""
        return dict(self.groups)

    @property
    def all_processes(self) -> Dict[str, ProcessSpec]:
        """Every process by its key (``group/name`` inside a group), a copy."""
        return {process.key: process for process in self.list_all_processes()}

    def yml(self) -> str:
        """Refused as :meth:`ProcessSpec.yml` is."""
        raise SpecError(f"experiment {self.name!r}: yml() is gone: print what a backend would create with "
                        f"cluster.launch(exp, dry_run=True) (or `symphony launch FILE --dry-run`)")

    def set_preamble_cmds(self, preamble_cmds: Union[str, Sequence[str]]) -> "ExperimentSpec":
        """Replace the experiment's preamble lines (run before every process's own)."""
        self.preamble_cmds = _string_list(f"experiment {self.name!r} preamble_cmds", preamble_cmds)
        return self

    def _original_arguments(self, cmds: Any, kwargs: Dict[str, Any]) -> Tuple[Any, Dict[str, Any]]:
        """``new_process`` arguments as the original backends read them: the experiment's ``start_dir``
        as the default ``cwd``; on Docker, an image reference given as the second argument."""
        if self.start_dir is not None and kwargs.get("cwd") is None and kwargs.get("start_dir") is None:
            import os
            kwargs = {**kwargs, "cwd": os.path.expanduser(self.start_dir)}
        if (self.image_as_second_argument and isinstance(cmds, str) and cmds and not cmds.split()[1:]
                and not {"container_image", "command", "args", "cmd"} & {k for k, v in kwargs.items() if v is not None}):
            kwargs = {**kwargs, "container_image": cmds}
            cmds = None
        return cmds, kwargs

    # --- building -----------------------------------------------------------------
    def new_process(self, name: str, cmds: Union[str, Sequence[str], None] = None, **kwargs: Any) -> ProcessSpec:
        """Add a standalone process.

        ``cmds`` (string or list) are shell lines; ``command=`` and ``args=`` are the
        exec form. Other keywords: env, cwd/start_dir, container_image, build_image,
        preamble_cmds.
        """
        self._check_free_pod_name(name, "process")
        cmds, kwargs = self._original_arguments(cmds, kwargs)
        process = ProcessSpec(name, cmds, experiment=self, **kwargs)
        self.processes[name] = process
        return process

    def add_process(self, process: ProcessSpec) -> ProcessSpec:
        """Add a standalone process made on its own (``ProcessSpec('a', ...)``), as the original's
        ``add_process`` did."""
        _check_detached(process)
        self._check_free_pod_name(process.name, "process")
        self._check_services_of(process)
        process.experiment = self
        self.processes[process.name] = process
        return process

    def add_processes(self, processes: Sequence[ProcessSpec]) -> None:
        for process in processes:
            self.add_process(process)

    def add_process_group(self, group: "ProcessGroupSpec") -> "ProcessGroupSpec":
        """Add a process group made on its own (``ProcessGroupSpec('g')``) with its processes."""
        if not isinstance(group, ProcessGroupSpec) or group.experiment is not None:
            raise SpecError(f"add_process_group() takes a ProcessGroupSpec that belongs to no experiment yet, "
                            f"got {brief(group)}: use exp.new_process_group(name)")
        self._check_free_pod_name(group.name, "process group")
        for process in group.processes.values():
            self._check_services_of(process)
        group.experiment = self
        for process in group.processes.values():
            process.experiment = self
        self.groups[group.name] = group
        return group

    def add_process_groups(self, groups: Sequence["ProcessGroupSpec"]) -> None:
        for group in groups:
            self.add_process_group(group)

    def new_process_group(self, name: str, **kwargs: Any) -> ProcessGroupSpec:
        """Add a process group; its processes share a network namespace on container backends."""
        self._check_free_pod_name(name, "process group")
        group = ProcessGroupSpec(name, experiment=self, **kwargs)
        self.groups[name] = group
        return group

    def _check_free_pod_name(self, name: str, kind: str) -> None:
        check_name(kind, name)
        if name in self.processes:
            raise DuplicateNameError(f"experiment {self.name!r} already has a process named {name!r}: choose another {kind} name")
        if name in self.groups:
            raise DuplicateNameError(f"experiment {self.name!r} already has a process group named {name!r}: choose another {kind} name")

    def _known_providers(self) -> Dict[str, ProcessSpec]:
        """:meth:`service_providers`, rebuilt only when services were declared since: a
        thousand clients that each ``connects(..., wait=True)`` must not rescan the experiment each time."""
        stamp = (self._services_declared,)  # every way of providing a service passes _check_new_services
        if stamp != self._providers_stamp:
            self._providers, self._providers_stamp = self.service_providers(), stamp
        return self._providers

    def _check_new_services(self, process: ProcessSpec, services: Dict[str, Optional[int]]) -> None:
        """Refuse a service bound twice or a fixed port used twice, at declaration time.

        Looked up in what earlier declarations recorded, not by scanning every process: declaring
        a thousand processes that each bind a service stays linear. Every way of providing a
        service passes here, so the record is complete; an entry whose service was taken back
        (a refused ring of waits) no longer holds and is ignored.
        """
        self._services_declared += 1  # (before the services are stored: the next lookup rebuilds)
        for name, port in services.items():
            other = self._declared_provider(name)
            if other is not None and other is not process:
                raise ServiceConflictError(
                    f"service {name!r} is already bound by process {other.key!r}: a service has one "
                    f"provider; make {process.key!r} connect to it instead")
            holder = self._declared_ports.get(port) if port is not None else None
            if holder is not None and holder != name and self._declared_provider(holder, port) is not None:
                raise PortConflictError(
                    f"port {port} of service {name!r} is already the fixed port of service "
                    f"{holder!r}: choose another port")
        for name, port in services.items():
            self._declared_providers[name] = process
            if port is not None:
                self._declared_ports[port] = name

    def _check_services_of(self, process: ProcessSpec) -> None:
        """:meth:`_check_new_services` for a process made on its own, joining this experiment with the
        services it already declared (one at a time: two of its own on one fixed port are refused too)."""
        for name, port in {**process.bound, **process.exposed}.items():
            self._check_new_services(process, {name: port})

    def _declared_provider(self, name: str, port: Optional[int] = None) -> Optional[ProcessSpec]:
        """The process recorded as providing ``name`` (with fixed ``port``, if given), if it still does."""
        process = self._declared_providers.get(name)
        if process is None or process.experiment is not self:
            return None
        for provided in (process.bound, process.exposed):
            if name in provided and (port is None or provided[name] == port):
                return process
        return None

    # --- queries ------------------------------------------------------------------
    def get_process(self, name: str) -> ProcessSpec:
        """A standalone process by name, or ``group/process``."""
        if "/" in name:
            group_name, process_name = name.split("/", 1)
            return self.get_process_group(group_name).get_process(process_name)
        if name in self.processes:
            return self.processes[name]
        matches = [p for p in self.list_all_processes() if p.name == name]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise SpecError(f"process name {name!r} is ambiguous: use one of {', '.join(p.key for p in matches)}")
        raise SpecError(f"experiment {self.name!r} has no process {brief(name)}")

    def get_process_group(self, name: str) -> ProcessGroupSpec:
        try:
            return self.groups[name]
        except KeyError:
            raise SpecError(f"experiment {self.name!r} has no process group {brief(name)}: it has {', '.join(self.groups) or 'none'}") from None

    def list_processes(self) -> List[ProcessSpec]:
        """Standalone processes (not in a group)."""
        return list(self.processes.values())

    def list_process_groups(self) -> List[ProcessGroupSpec]:
        return list(self.groups.values())

    def list_all_processes(self) -> List[ProcessSpec]:
        """Every process: standalone ones first, then each group's, in declaration order."""
        result = list(self.processes.values())
        for group in self.groups.values():
            result.extend(group.processes.values())
        return result

    def service_providers(self) -> Dict[str, ProcessSpec]:
        """service name -> the process that binds or exposes it."""
        providers: Dict[str, ProcessSpec] = {}
        for process in self.list_all_processes():
            for name in list(process.bound) + list(process.exposed):
                providers[name] = process
        return providers

    def fixed_ports(self) -> Dict[str, int]:
        """service name -> fixed port, for services declared with one."""
        ports: Dict[str, int] = {}
        for process in self.list_all_processes():
            for services in (process.bound, process.exposed):
                ports.update({name: port for name, port in services.items() if port is not None})
        return ports

    def exposed_services(self) -> List[str]:
        return [name for p in self.list_all_processes() for name in p.exposed]

    def validate(self) -> None:
        """Checks that need the whole experiment; backends call this before planning."""
        for problem in self.problems():
            raise problem.error(f"{problem.message}: {problem.python_fix}")

    def problems(self) -> Iterator[Problem]:
        """What :meth:`validate` refuses, first problem first, as :class:`Problem` records.

        Each names the place in the dict/YAML form and the fix in both phrasings, so a
        loaded file reports ``file:line`` and a YAML fix while Python callers get a
        Python one, from this one list of checks.
        """
        if not self.processes and not any(g.processes for g in self.groups.values()):
            yield Problem(SpecError, f"experiment {self.name!r} has no processes", ("processes",),
                          "add one with exp.new_process(...)", "add one under `processes:`")
        for group in self.groups.values():
            if not group.processes:
                yield Problem(SpecError, f"process group {group.name!r} has no processes", ("groups", group.name),
                              "add one with group.new_process(...) or remove it",
                              "add one under its `processes:` or remove the group")
        for group in self.groups.values():
            for process in group.processes.values():
                for field in POD_FIELDS:
                    if field.is_set(process):
                        # the methods refuse these on a member; the attributes behind them can still be
                        # filled directly, and the group's pod would silently lack them
                        yield Problem(PodLevelSettingError,
                                      f"{field.name} is set on process {process.key!r}, but it is a pod-level setting "
                                      f"and the process belongs to process group {group.name!r}",
                                      ("groups", group.name, "processes", process.name, field.name),
                                      "set it on the group instead", "move it to the group")
        providers = self.service_providers()
        for process in self.list_all_processes():
            path: Tuple[str, ...] = (("groups", process.group.name) if process.group else ()) + ("processes", process.name)
            if not (process.cmds or process.command or process.args or process.container_image or process.build_image):
                # (an image alone runs its own default command on container backends)
                yield Problem(SpecError, f"process {process.key!r} has nothing to run", path,
                              "give cmds=['...'] or command='...', args=[...]",
                              "add `cmds: [...]` (shell lines) or `command: ...` with `args: [...]`")
            for name in process.connected:
                if name not in providers:
                    yield Problem(UnboundServiceError,
                                  f"process {process.key!r} connects to service {name!r} but no process binds it",
                                  path + ("connects",), f"add <process>.binds({name!r})",
                                  f"add `binds: [{name}]` to the process that provides it")
            for name in process.waits:
                if name not in process.connected:  # (only attributes filled directly can get here)
                    yield Problem(SpecError, f"process {process.key!r} waits for service {name!r} but does not "
                                  f"connect to it", path + ("wait",), f"use connects({name!r}, wait=True)",
                                  f"add {name} to its `connects:`")
            for name in process.readiness:
                if name not in process.bound and name not in process.exposed:
                    yield Problem(SpecError, f"process {process.key!r} has a readiness check for service {name!r} "
                                  f"but does not provide it", path + ("ready",), f"use binds({name!r}, ready=...)",
                                  f"add {name} to its `binds:`")
        if self._waiting or any(process.waits for process in self.list_all_processes()):
            edges = {process.key: [provider.key for _, provider in self._waiting_edges(providers, process)]
                     for process in self.list_all_processes()}
            cycle = waiting_cycle(edges)
            if cycle is not None:
                processes = self.all_processes
                message, python_fix, data_fix = self._cycle_text([processes[key] for key in cycle], providers)
                first = processes[cycle[0]]
                where = (("groups", first.group.name) if first.group else ()) + ("processes", first.name, "wait")
                yield Problem(WaitingCycleError, message, where, python_fix, data_fix)

    # --- serialisation ------------------------------------------------------------
    # (imported when called: the loaders need PyYAML, which the supervisor and quick verbs never pay for;
    # serialize.mapping and serialize.files never import this module: they build the class they are given)
    def to_dict(self) -> Dict[str, Any]:
        """The experiment as plain data: the schema of YAML/JSON experiment files (only non-default values)."""
        from .serialize.mapping import experiment_to_dict
        return experiment_to_dict(self)

    @classmethod
    def from_dict(cls: Type[_Experiment], data: Dict[str, Any]) -> _Experiment:
        from .serialize.mapping import build_experiment
        return build_experiment(cls, data)

    def dump_yaml(self, stream: Optional[IO[str]] = None) -> Optional[str]:
        """YAML text, or None after writing it to ``stream``."""
        from .serialize.files import dump_yaml
        return dump_yaml(self, stream)

    def dump_json(self, stream: Optional[IO[str]] = None) -> Optional[str]:
        """JSON text, or None after writing it to ``stream``."""
        from .serialize.files import dump_json
        return dump_json(self, stream)

    @classmethod
    def load_yaml(cls: Type[_Experiment], source: Union[str, IO[str]]) -> _Experiment:
        from .serialize.files import read_yaml_experiment
        return read_yaml_experiment(cls, source)

    @classmethod
    def load_json(cls: Type[_Experiment], source: Union[str, IO[str]]) -> _Experiment:
        from .serialize.files import read_json_experiment
        return read_json_experiment(cls, source)

    # the original's names for the same files (its own dict layout is not read: see docs/migrating.md)
    def dump_dict(self) -> Dict[str, Any]:
        return self.to_dict()

    @classmethod
    def load_dict(cls: Type[_Experiment], data: Dict[str, Any]) -> _Experiment:
        return cls.from_dict(data)

    def dump_yaml_str(self) -> str:
        return str(self.dump_yaml())

    def dump_json_str(self) -> str:
        return str(self.dump_json())

    def dump_yaml_file(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as stream:
            self.dump_yaml(stream)

    def dump_json_file(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as stream:
            self.dump_json(stream)

    def dump_file(self, path: str) -> None:
        """YAML or JSON by the file's extension."""
        (self.dump_json_file if path.lower().endswith(".json") else self.dump_yaml_file)(path)

    @classmethod
    def load_yaml_file(cls: Type[_Experiment], path: str) -> _Experiment:
        return cls.load_yaml(path)

    @classmethod
    def load_json_file(cls: Type[_Experiment], path: str) -> _Experiment:
        return cls.load_json(path)

    @classmethod
    def load_yaml_str(cls: Type[_Experiment], text: str) -> _Experiment:
        import io
        return cls.load_yaml(io.StringIO(text))

    @classmethod
    def load_json_str(cls: Type[_Experiment], text: str) -> _Experiment:
        import io
        return cls.load_json(io.StringIO(text))

    @classmethod
    def load_file(cls: Type[_Experiment], path: str) -> _Experiment:
        """YAML or JSON by the file's extension."""
        return cls.load_json(path) if path.lower().endswith(".json") else cls.load_yaml(path)

    def __repr__(self) -> str:
        return f"ExperimentSpec({self.name!r}, {len(self.list_all_processes())} processes)"
