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

import abc
import sys
from typing import (TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, NamedTuple, Optional,
                    Protocol, Sequence, Tuple, TypeVar, Union, runtime_checkable)

from ..config import SymphonyConfig
from ..engines.registry import backend_class, canonical_backend
from ..errors import (BackendUnavailableError, ExperimentExistsError, ExperimentNotFoundError, ProcessNotFoundError,
                      SymphonyError)
from ..status import ProcessStatus
from .launching import launch_lock, rollback_shield

if TYPE_CHECKING:
    from ..resolution.capabilities import Capabilities
    from ..spec.model import ExperimentSpec

#: ``since`` of :meth:`Cluster.get_log`: seconds, or text such as '5m' (None: everything)
Since = Union[float, str, None]
#: one end of :meth:`Cluster.copy`: ``(process key, path)``, or ``(None, path)`` for this machine
CopyEnd = Tuple[Optional[str], str]
#: the failure-injection hook: ``fault_hook(step, detail)``
FaultHook = Callable[[str, Any], None]

T = TypeVar("T")


@runtime_checkable
class Plan(Protocol):
    """What ``plan(exp)`` returns on every backend: printable (``launch(dry_run=True)`` prints
    :meth:`render`), and plain data (:meth:`to_dict`, e.g. for ``-o json`` or the state store)."""

    def render(self) -> str:
        """The plan as text, exactly what a dry run prints."""
        ...

    def to_dict(self) -> Dict[str, Any]:
        """The plan as plain data (JSON-serialisable)."""
        ...


class Prepared(NamedTuple):
    """What :meth:`Cluster.prepare` did before anything of the experiment exists: the plan
    it made, and every image reference it built (and pushed) for that plan.

    (A named tuple, immutable like a frozen dataclass, but without importing
    :mod:`dataclasses` and with it :mod:`inspect` on every command.)"""

    plan: Plan
    images: FrozenSet[str] = frozenset()


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


def launched_line(experiment: str, backend: str, processes: int) -> str:
    """The one line :meth:`Cluster.launch` prints on stderr after a launch, in the same words on every backend."""
    return (f"launched {experiment!r} on the {backend} backend: {processes} "
            f"process{'' if processes == 1 else 'es'} (symphony p to watch)")


class Cluster(abc.ABC):
    """Base of every backend. Build one with ``Cluster.new('local' | 'tmux' | 'docker' | 'kube')``."""

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
        """A new :class:`~symphony.spec.ExperimentSpec`; the configured username is prefixed."""
        from ..spec.model import ExperimentSpec
        return ExperimentSpec(SymphonyConfig().experiment_name(name), **kwargs)

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

    # --- the current experiment, remembered per backend ---------------------------
    def _settings_key(self) -> str:
        return f"current_experiment:{self.backend_name}"

    def current_experiment(self) -> Optional[str]:
        """The experiment CLI verbs act on when none is named (set by launch and ``symphony exp``)."""
        from ..state import StateStore
        return StateStore().get_setting(self._settings_key())

    def set_experiment(self, name: Optional[str]) -> None:
        from ..state import StateStore
        StateStore().set_setting(self._settings_key(), name)
