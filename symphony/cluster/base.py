"""The :class:`Cluster` base class: the one interface every backend implements.

Each backend is a thin translation of the one model (:mod:`symphony.spec`) into its
engine's objects, in two steps, as in TorchX's scheduler split:

1. ``plan(exp)`` builds a plan object — what would be created (commands and env,
   tmux commands, container configs, manifests). ``launch(dry_run=True)`` prints
   exactly this plan, so a dry run never lies.
2. ``apply(exp)`` creates it. A failure part-way removes what was created, and the
   removal runs to its end even if Ctrl-C is pressed again
   (:func:`~symphony.cluster.launching.rollback_shield`).

Work that creates nothing of the experiment but may fail (building and pushing
images) is ``prepare(exp)``, done before a forced relaunch deletes the running
experiment; its result is a :class:`Prepared`.
"""

from __future__ import annotations

import abc
import collections
import sys

from ..config import SymphonyConfig
from ..engines.registry import backend_class, canonical_backend
from ..errors import (BackendSettingError, BackendUnavailableError, ExperimentExistsError, ExperimentNotFoundError,
                      ProcessNotFoundError, SymphonyError)
from ..status import ProcessState, ProcessStatus
from .launching import launch_lock, rollback_shield

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing on every command's path)
if TYPE_CHECKING:
    from typing import (Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, NamedTuple, Optional, Sequence,
                        Tuple, TypeVar, Union)

    from ..resolution.capabilities import Capabilities
    from ..spec.model import ExperimentSpec
    from ..state import StateStore
    from .interfaces import CopyEnd, FaultHook, Plan, Since

    T = TypeVar("T")

    class Prepared(NamedTuple):
        """What :meth:`Cluster.prepare` did before anything of the experiment exists: the plan
    it made, and every image reference it built (and pushed) for that plan.

    (A named tuple, immutable like a frozen dataclass, but without importing
    :mod:`dataclasses` and with it :mod:`inspect` on every command.)"""

        plan: Plan
        images: FrozenSet[str] = frozenset()
else:
    Prepared = collections.namedtuple("Prepared", "plan images", defaults=(frozenset(),))
    Prepared.__doc__ = """What :meth:`Cluster.prepare` did before anything of the experiment exists: the plan
    it made, and every image reference it built (and pushed) for that plan.

    (A named tuple, immutable like a frozen dataclass, but without importing
    :mod:`dataclasses` and with it :mod:`inspect` on every command.)"""

    def __getattr__(name: str) -> object:
        """``Plan``, ``Since``, ``CopyEnd`` and ``FaultHook``: see :mod:`symphony.cluster.interfaces`."""
        if name in ("Plan", "Since", "CopyEnd", "FaultHook"):
            from . import interfaces
            return getattr(interfaces, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pick_process(experiment: str, process: str, candidates: Iterable[Tuple[str, str, T]]) -> T:
    """The value of the candidate ``process`` names: an exact ``group/name`` key, else a unique name.

    ``candidates`` are ``(key, name, value)`` triples; an ambiguous or unknown name is a
    one-line error listing the keys to use.
    """
    candidates = list(candidates)
    matches = [c for c in candidates if c[0] == process] or [c for c in candidates if c[1] == process]
    if len(matches) == 1:
        return matches[0][2]
    if matches:
        raise ProcessNotFoundError(f"process name {process!r} is ambiguous in {experiment!r}: use one of "
                                   f"{', '.join(c[0] for c in matches)}")
    raise ProcessNotFoundError(f"experiment {experiment!r} has no process {process!r}: it has "
                               f"{', '.join(c[0] for c in candidates) or 'none'}")


#: ``Cluster.new('subproc', ...)`` keywords of the original's foreground subprocess backend
_ORIGINAL_SUBPROC_KEYWORDS = frozenset({"stdout_mode", "stderr_mode", "log_dir"})


def _status_dict(status: ProcessStatus) -> Dict[str, Any]:
    return {**status.to_dict(), "state_text": status.state_text()}


def launched_line(experiment: str, backend: str, processes: int) -> str:
    """The one line :meth:`Cluster.launch` prints on stderr after a launch, in the same words on every backend."""
    return (f"launched {experiment!r} on the {backend} backend: {processes} "
            f"process{'' if processes == 1 else 'es'} (symphony p to watch)")


#: the original Symphony's keyword names -> today's, per method; its scripts call these methods by
#: keyword (``cluster.delete(experiment_name=...)``), so each backend's method accepts both spellings
_ORIGINAL_KEYWORDS: Dict[str, Dict[str, str]] = {
    "delete": {"experiment_name": "name"},
    "external_url": {"experiment_name": "experiment", "service_name": "service"},
    "exec_command": {"experiment_name": "experiment", "process_name": "process", "command": "argv"},
    "set_experiment": {"experiment_name": "name"},
}


def _accepting_original_keywords(method_name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` also taking the original Symphony's keywords for it (and, for ``exec_command``,
    its ``process_group_name`` and a command given as one string, which it ran through a shell)."""
    import functools
    renames = _ORIGINAL_KEYWORDS[method_name]

    @functools.wraps(method)
    def call(self: "Cluster", *args: Any, **kwargs: Any) -> Any:
        for old, new in renames.items():
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{method_name}() got both {old}= and {new}=: give one")
                kwargs[new] = kwargs.pop(old)
        if method_name != "exec_command":
            return method(self, *args, **kwargs)
        bound = dict(zip(("experiment", "process", "argv", "process_group_name"), args))
        for key, value in kwargs.items():
            if key in bound:
                raise TypeError(f"exec_command() got multiple values for {key}")
            bound[key] = value
        unknown = set(bound) - {"experiment", "process", "argv", "process_group_name"}
        if unknown or not {"experiment", "process", "argv"} <= set(bound):
            raise TypeError("exec_command() takes (experiment, process, argv), or the original's "
                            "(experiment_name, process_name, command, process_group_name=None)")
        process, argv = bound["process"], bound["argv"]
        if bound.get("process_group_name"):
            process = f"{bound['process_group_name']}/{process}"
        if isinstance(argv, str):
            argv = ["sh", "-c", argv]
        return method(self, bound["experiment"], process, argv)

    call.__symphony_original_keywords__ = True  # type: ignore[attr-defined]
    return call


def _accepting_original_get_log(method: Callable[..., Any]) -> Callable[..., Any]:
    """``get_log`` taking both today's form, ``(experiment, process, follow, since, tail)`` -> lines,
    and the original's, ``(experiment_name, process_name, process_group=None, follow=, since=, tail=,
    print_logs=)`` -> the log as one text (printed with ``print_logs``; with ``follow``, streamed to
    stdout). A third positional argument that is a string is the original's process group."""
    import functools

    @functools.wraps(method)
    def get_log(self: "Cluster", *args: Any, **kwargs: Any) -> Any:
        original = bool({"experiment_name", "process_name", "process_group", "print_logs"} & set(kwargs)) \
            or (len(args) > 2 and (args[2] is None or isinstance(args[2], str)))
        if not original:
            return method(self, *args, **kwargs)
        names = ("experiment_name", "process_name", "process_group", "follow", "since", "tail", "print_logs")
        bound = dict(zip(names, args))
        for key, value in kwargs.items():
            key = {"experiment": "experiment_name", "process": "process_name"}.get(key, key)
            if key in bound or key not in names:
                raise TypeError(f"get_log() got an unexpected or repeated argument {key!r}")
            bound[key] = value
        if "experiment_name" not in bound or "process_name" not in bound:
            raise TypeError("get_log() needs the experiment and the process")
        process = bound["process_name"]
        if bound.get("process_group"):
            process = f"{bound['process_group']}/{process}"
        since = bound.get("since") or None  # the original's 0 / '0': from the start
        if since == "0":
            since = None
        tail = bound.get("tail")
        tail = None if tail is None or tail < 0 else tail  # the original's -1: every line
        follow = bool(bound.get("follow"))
        lines = method(self, bound["experiment_name"], process, follow=follow, since=since, tail=tail)
        return _log_lines(lines, follow, bool(bound.get("print_logs")))

    get_log.__symphony_original_keywords__ = True  # type: ignore[attr-defined]
    return get_log


def _log_lines(lines: Iterable[str], follow: bool, print_logs: bool) -> Optional[str]:
    """What the original ``get_log(..., print_logs=...)`` returned: the log as one text (also
    printed with ``print_logs``); with ``follow`` it streamed to stdout until interrupted."""
    if follow:
        for line in lines:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        return None
    text = "\n".join(lines)
    if print_logs:
        print(text)
    return text


def setting_seconds(name: str, value: object, meaning: str, example: object) -> float:
    """A backend setting given in seconds (``grace=``, ``restart_backoff=``) as a number >= 0,
    or a one-line error naming ``name`` and the fix."""
    seconds = None
    if not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            seconds = float(value)
        except ValueError:
            pass
    import math
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise BackendSettingError(f"{name} must be a number of seconds >= 0 ({meaning}), e.g. {name}={example}, "
                                  f"got {value!r}")
    return seconds


class Cluster(abc.ABC):
    """Base of every backend. Build one with ``Cluster.new('local' | 'tmux' | 'docker' | 'kube')``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Scripts written for the original Symphony call these by its keyword names; every backend's
        # own method (wherever in its bases it is defined) accepts them, with no change to backends.
        super().__init_subclass__(**kwargs)
        for name in _ORIGINAL_KEYWORDS:
            method = getattr(cls, name, None)
            if method is not None and not getattr(method, "__symphony_original_keywords__", False) \
                    and not getattr(method, "__isabstractmethod__", False):
                setattr(cls, name, _accepting_original_keywords(name, method))
        get_log = getattr(cls, "get_log")
        if not getattr(get_log, "__symphony_original_keywords__", False) \
                and not getattr(get_log, "__isabstractmethod__", False):
            cls.get_log = _accepting_original_get_log(get_log)  # type: ignore[method-assign]

    backend_name: Optional[str] = None
    #: what this backend does with each setting of the model (applied, not applied, refused);
    #: the resolver reads it, and the conformance tests check every backend against it
    capabilities: "Capabilities"
    #: host-path mounts are paths of this machine unless processes run elsewhere (on a cluster's nodes)
    runs_on_this_machine: bool = False

    @property
    def runs_in_containers(self) -> bool:
        """Whether ``cwd`` is a path inside an image rather than of this machine (for reading experiment files)."""
        return self.capabilities.runs_in_containers

    @staticmethod
    def new(backend: str, **kwargs: Any) -> "Cluster":
        """Create the cluster for ``backend`` (case-insensitive; aliases such as 'subproc', 'kubernetes')."""
        if _ORIGINAL_SUBPROC_KEYWORDS & set(kwargs) and isinstance(backend, str) and backend.lower() == "subproc":
            # the original's foreground mode (output on this terminal, launch waits for the end)
            from ..compat.subproc import subproc_cluster
            return subproc_cluster(**kwargs)
        try:
            cls = backend_class(backend)
        except ImportError as exc:
            raise SymphonyError(
                f"backend {backend!r} needs a package that is not installed ({exc.name}): "
                f"pip install 'symphony[{canonical_backend(backend)}]'") from None
        cluster: Cluster = cls(**kwargs)
        return cluster

    def __init__(self, preamble_cmds: Union[str, Sequence[str], None] = None) -> None:
        self.preamble_cmds: List[str] = []
        if preamble_cmds is not None:  # (the model's checks load only when there is something to check)
            from ..spec.model import _string_list
            self.preamble_cmds = _string_list("cluster preamble_cmds", preamble_cmds)
        #: Test hook for failure injection: each backend's ``apply`` calls ``fault_hook(step,
        #: detail)`` before every step (local: record/start/ready; tmux adds script/running;
        #: docker: network/create/start; kube: the kind of each object). Whatever it raises
        #: aborts the launch right there, so tests can check that nothing is left behind.
        self.fault_hook: Optional[FaultHook] = None

    def _fault_point(self, step: str, detail: Any) -> None:
        if self.fault_hook is not None:
            self.fault_hook(step, detail)

    # --- declaring ----------------------------------------------------------------
    def new_experiment(self, name: str, **kwargs: Any) -> "ExperimentSpec":
        """A new :class:`~symphony.spec.ExperimentSpec`; the configured username is prefixed.

        As in the original Symphony, ``_``, ``.``, spaces and capitals in the name become ``-`` and
        lowercase (an experiment is a Kubernetes namespace), with a note on stderr saying so. On
        the Docker backend a string second argument of ``new_process`` that is an image reference is
        the image, as the original's Docker backend read it."""
        from ..spec.model import ExperimentSpec
        from ..spec.names import original_name
        if kwargs.get("port_range") is not None:
            raise SymphonyError("new_experiment(port_range=...) is not taken per experiment: ports come from one "
                                "range reserved across experiments; set SYMPHONY_PORT_RANGE=7000-8999 instead")
        kwargs.pop("port_range", None)
        exp = ExperimentSpec(SymphonyConfig().experiment_name(original_name("experiment", name)), **kwargs)
        if self.backend_name == "docker":
            exp.image_as_second_argument = True
        return exp

    def prefix_username(self, name: str) -> str:
        """``name`` with the configured username prefixed (``sarah-rl``), as new experiments are named."""
        return SymphonyConfig().experiment_name(name)

    # --- launching ----------------------------------------------------------------
    def launch(self, exp: "ExperimentSpec", force: bool = False, dry_run: bool = False) -> Plan:
        """Start every process of ``exp``; returns the plan that was applied (or printed).

        A dry run makes the same checks in the same order as a real launch and prints
        what it would do, so it fails exactly when the launch would: an existing
        experiment is an error without ``force``, and with it is reported as replaced
        and planned with :meth:`plan_replacing`. A launch that succeeded prints one line on
        stderr, in the same words on every backend (:func:`launched_line`); a dry run does not.
        """
        exp.validate()
        if dry_run:
            return self._launch(exp, force, dry_run)
        with launch_lock(str(self.backend_name), exp.name):
            return self._launch(exp, force, dry_run)

    def _launch(self, exp: "ExperimentSpec", force: bool, dry_run: bool) -> Plan:
        unchecked: Optional[BackendUnavailableError] = None
        try:
            exists = exp.name in self.list_experiments()
        except BackendUnavailableError as exc:
            if not dry_run:
                raise
            exists, unchecked = False, exc  # a plan can still be shown offline; it says what it could not check
        if exists and not force:
            raise self.experiment_exists_error(exp.name)
        spec_path = SymphonyConfig().launched_spec_path(exp, force=force, create=not dry_run)
        if dry_run:
            plan = self.plan_replacing(exp) if exists else self.plan(exp)
            if exists:
                print(f"# would delete the running experiment {exp.name!r} first (force)")
            if unchecked:
                print(f"warning: could not check whether {exp.name!r} is already running: {unchecked}", file=sys.stderr)
            print(plan.render())
            return plan
        prepared = self.prepare(exp)  # before a forced relaunch deletes anything: a failed build keeps the old run
        if exists:
            try:
                self.delete(exp.name)
            except ExperimentNotFoundError:
                pass  # deleted meanwhile by `symphony delete`: just as well
        plan = self.apply(exp, prepared)
        try:
            SymphonyConfig.save_launched_spec(exp, spec_path)
        except BaseException:
            with rollback_shield():
                self.delete(exp.name)  # a launch that cannot keep its record leaves nothing running
            raise
        self.set_experiment(exp.name)
        for note in getattr(plan, "not_applied", ()):  # never silently: the dry run lists these too
            print(f"note: {exp.name!r} on the {self.backend_name} backend: {note}", file=sys.stderr)
        print(launched_line(exp.name, str(self.backend_name), len(exp.list_all_processes())), file=sys.stderr)
        return plan

    def experiment_exists_error(self, name: str, fix: Optional[str] = None) -> ExperimentExistsError:
        """The error for launching ``name`` while it runs; ``fix`` words the way out for the caller
        (by default for Python and the ``symphony`` command alike)."""
        if fix is None:
            fix = (f"delete it first (`symphony delete {name}`), or replace it with --force "
                   f"(force=True in Python)")
        return ExperimentExistsError(
            f"experiment {name!r} is already running on the {self.backend_name} backend: {fix}")

    @staticmethod
    def not_exposed_error(experiment: str, service: str, exposed: Iterable[str]) -> SymphonyError:
        """``visit`` of a service that is bound but not exposed: it has no URL outside the experiment."""
        return SymphonyError(f"service {service!r} of {experiment!r} is bound, not exposed, so it has no URL: "
                             f"declare it with exposes instead of binds and relaunch (it exposes "
                             f"{', '.join(sorted(exposed)) or 'none'})")

    @abc.abstractmethod
    def plan(self, exp: "ExperimentSpec") -> Plan:
        """What ``apply`` would create, as a printable plan object (no side effects)."""

    def plan_replacing(self, exp: "ExperimentSpec") -> Plan:
        """The plan of a forced relaunch, as if the running experiment of that name were gone.

        The default is :meth:`plan`; a backend whose plan depends on what runs (ports
        reserved on this host) overrides it so that what the old run holds counts as free.
        """
        return self.plan(exp)

    def prepare(self, exp: "ExperimentSpec") -> Optional[Prepared]:
        """Work that creates nothing of the experiment (building and pushing images), done before
        a forced relaunch deletes the running one; its result goes to :meth:`apply`. None: a
        backend with nothing to prepare."""
        return None

    @abc.abstractmethod
    def apply(self, exp: "ExperimentSpec", prepared: Optional[Prepared] = None) -> Plan:
        """Create the experiment (``prepared`` from :meth:`prepare`, or prepare now); must leave
        nothing behind if it fails. Returns the plan it applied."""

    # --- querying -----------------------------------------------------------------
    @abc.abstractmethod
    def list_experiments(self) -> List[str]:
        """The names of the experiments on this backend, sorted."""

    @abc.abstractmethod
    def describe_experiment(self, name: str) -> List[ProcessStatus]:
        """List of :class:`ProcessStatus`, one per process."""

    @abc.abstractmethod
    def get_log(self, experiment: str, process: str, follow: bool = False, since: Since = None,
                tail: Optional[int] = None) -> Iterator[str]:
        """Iterator over the process's output lines (``since``: seconds, or text such as '5m')."""

    @abc.abstractmethod
    def external_url(self, experiment: str, service: str) -> str:
        """The URL of an exposed service, reachable from this machine (``symphony visit``)."""

    def exposed_services(self, experiment: str) -> Optional[List[str]]:
        """The services ``experiment`` exposes (what :meth:`external_url` takes), for ``symphony visit``
        to match a shortened name against; None if this backend cannot list them (then the name
        is used as given)."""
        return None

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Stop and remove everything of the experiment ``name``."""

    # --- acting on a process (exec, ssh, scp) -------------------------------------
    def exec_command(self, experiment: str, process: str, argv: Sequence[str]) -> int:
        """Run ``argv`` in the process's environment (SYMPH_* vars, cwd); return its exit code."""
        raise SymphonyError(f"exec is not supported on the {self.backend_name} backend")

    def shell(self, experiment: str, process: str) -> int:
        """An interactive shell in the process's environment (``symphony ssh``); returns its exit code."""
        raise SymphonyError(f"ssh is not supported on the {self.backend_name} backend")

    def copy(self, experiment: str, source: CopyEnd, destination: CopyEnd) -> str:
        """``symphony scp``: ``source``/``destination`` are ``(process or None, path)``; None is this machine.
        Returns the path of the copy."""
        raise SymphonyError(f"scp is not supported on the {self.backend_name} backend")

    def require_experiment(self, name: str) -> str:
        if name not in self.list_experiments():
            raise ExperimentNotFoundError(
                f"no experiment {name!r} on the {self.backend_name} backend: `symphony ls` lists them")
        return name

    # --- the original Symphony's methods, over the ones above ----------------------
    def launch_batch(self, experiments: Iterable["ExperimentSpec"], force: bool = False,
                     dry_run: bool = False) -> List[Plan]:
        """Launch several experiments in turn; returns their plans. Stops at the first that fails
        (that one leaves nothing behind; the ones before it keep running)."""
        return [self.launch(exp, force=force, dry_run=dry_run) for exp in experiments]

    def delete_batch(self, names: Iterable[str]) -> None:
        """Delete several experiments by exact name, in turn."""
        for name in names:
            self.delete(name)

    def transfer_file(self, experiment_name: str, src_path: str, dest_path: str, src_process: Optional[str] = None,
                      src_process_group: Optional[str] = None, dest_process: Optional[str] = None,
                      dest_process_group: Optional[str] = None) -> str:
        """The original's scp: one side is a process (``src_process``/``dest_process``, with its group),
        the other this machine. Same as :meth:`copy`; returns the path of the copy."""
        def key(process: Optional[str], group: Optional[str]) -> Optional[str]:
            if process is None and group is not None:
                raise SymphonyError(f"transfer_file() got a process group {group!r} but no process: name the process")
            return None if process is None else (f"{group}/{process}" if group else process)
        return self.copy(experiment_name, (key(src_process, src_process_group), src_path),
                         (key(dest_process, dest_process_group), dest_path))

    def login(self, experiment_name: str, process_name: str, process_group_name: Optional[str] = None) -> int:
        """The original's ssh into a process: an interactive shell there (:meth:`shell`)."""
        return self.shell(experiment_name, f"{process_group_name}/{process_name}" if process_group_name
                          else process_name)

    def external_service(self, experiment_name: str, service_name: str) -> str:
        """The address of an exposed service from this machine (the original's name for :meth:`external_url`)."""
        return self.external_url(experiment_name, service_name)

    def describe_process_group(self, experiment_name: str, process_group_name: str) -> Dict[str, Dict[str, Any]]:
        """``{process name: status dict}`` of one group (``ProcessStatus.to_dict()`` plus ``state_text``)."""
        found = {status.name: _status_dict(status) for status in self.describe_experiment(experiment_name)
                 if status.group == process_group_name}
        if not found:
            raise ProcessNotFoundError(f"experiment {experiment_name!r} has no process group {process_group_name!r}")
        return found

    def describe_process(self, experiment_name: str, process_name: str,
                         process_group_name: Optional[str] = None) -> Dict[str, Any]:
        """The status dict of one process (a group's when ``process_group_name`` is given)."""
        key = f"{process_group_name}/{process_name}" if process_group_name else process_name
        statuses = self.describe_experiment(experiment_name)
        return _status_dict(pick_process(experiment_name, key, ((s.key, s.name, s) for s in statuses)))

    def find_process(self, experiment_name: str, process_name: str) -> List[Optional[str]]:
        """The groups (None for standalone) that have a process named ``process_name``."""
        return [status.group for status in self.describe_experiment(experiment_name) if status.name == process_name]

    def fuzzy_match_experiment(self, name: str) -> Tuple[List[str], bool]:
        """``(matches, is_exact)``: exact name, then ``<username>-<name>``, then prefix, suffix and
        substring matches (the first tier that matches anything), as ``symphony`` verbs match."""
        from ..spec.names import best_candidates
        exact, candidates = best_candidates(name, self.list_experiments(), SymphonyConfig().username)
        return list(candidates), exact

    def fuzzy_match_process(self, proc_name: str, exp_name: str) -> Tuple[List[Tuple[Optional[str], str]], bool]:
        """``([(group or None, process name), ...], is_exact)``, matched on process names as
        :meth:`fuzzy_match_experiment` matches experiments."""
        from ..spec.names import best_candidates
        statuses = self.describe_experiment(exp_name)
        exact, names = best_candidates(proc_name, sorted({s.name for s in statuses}))
        return [(s.group, s.name) for name in names for s in statuses if s.name == name], exact

    def get_log_when_alive(self, experiment_name: str, process_name: str, process_group: Optional[str] = None,
                           follow: bool = False, since: Since = 0, tail: Optional[int] = 500,
                           print_logs: bool = False, sleep_interval: float = 10) -> Optional[str]:
        """The original's wait for a process to run before reading its log (its ``get_log`` form):
        polls every ``sleep_interval`` seconds until the process is running or has ended."""
        import time
        key = f"{process_group}/{process_name}" if process_group else process_name
        while True:
            statuses = self.describe_experiment(experiment_name)
            status = pick_process(experiment_name, key, ((s.key, s.name, s) for s in statuses))
            if status.state not in (ProcessState.PENDING, ProcessState.WAITING):
                break
            print(f"waiting for {key!r} of {experiment_name!r} to start ({status.state_text()})", file=sys.stderr)
            time.sleep(sleep_interval)
        original_form: Any = self.get_log  # (every backend's get_log also takes the original's keywords)
        result: Optional[str] = original_form(experiment_name=experiment_name, process_name=process_name,
                                              process_group=process_group, follow=follow, since=since, tail=tail,
                                              print_logs=print_logs)
        return result

    # --- the current experiment, remembered per backend ---------------------------
    def _settings_key(self) -> str:
        return f"current_experiment:{self.backend_name}"

    def current_experiment(self) -> Optional[str]:
        """The experiment CLI verbs act on when none is named (set by launch and ``symphony exp``)."""
        return self._settings_store().get_setting(self._settings_key())

    def set_experiment(self, name: Optional[str]) -> None:
        self._settings_store().set_setting(self._settings_key(), name)

    def _settings_store(self) -> "StateStore":
        """The cluster's own state store if it keeps one, else a new one (closed once dropped)."""
        store: Optional["StateStore"] = getattr(self, "store", None)
        if store is None:
            from ..state import StateStore
            store = StateStore()
        return store
