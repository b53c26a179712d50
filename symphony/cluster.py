"""``Cluster``: where an experiment runs, and the registry of backends.

Each backend is a thin translation of the one model (:mod:`symphony.spec`) into its
engine's objects, in two steps, as in TorchX's scheduler split:

1. ``plan(exp)`` builds a plan object — what would be created (commands and env,
   tmux commands, container configs, manifests). ``launch(dry_run=True)`` prints
   exactly this plan, so a dry run never lies.
2. ``apply(exp)`` creates it. A failure part-way removes what was created, and the
   removal runs to its end even if Ctrl-C is pressed again (:func:`rollback_shield`).

Launches of one experiment name on this machine are serialised (:func:`launch_lock`),
so two ``symphony launch --force`` of one file at once replace each other in turn
instead of interleaving their deletes and starts.

Backends are imported lazily by name, so ``symphony ls`` on a laptop never
imports the Kubernetes client.
"""

import contextlib
import importlib
import os
import signal
import sys
import threading
import time

from .errors import (BackendUnavailableError, ExperimentExistsError, ExperimentNotFoundError, ProcessNotFoundError, SymphonyError,
                     UnknownBackendError)
from .status import ProcessState, ProcessStatus, format_age  # noqa: F401  (re-exported)

#: canonical name -> "module:Class"; aliases map to canonical names.
BACKENDS = {
    "local": "symphony.local.cluster:LocalCluster",
    "tmux": "symphony.tmux.cluster:TmuxCluster",
    "docker": "symphony.docker.cluster:DockerCluster",
    "kube": "symphony.kube.cluster:KubeCluster",
}
ALIASES = {
    "subproc": "local",
    "kubernetes": "kube",
    "k8s": "kube",
}


def register_backend(name, target, aliases=()):
    """Make ``Cluster.new(name)`` build ``target`` ("module:Class"), e.g. for a plug-in backend."""
    BACKENDS[name.lower()] = target
    for alias in aliases:
        ALIASES[alias.lower()] = name.lower()


def canonical_backend(name):
    """Canonical backend name for ``name`` (case-insensitive, aliases allowed)."""
    if not isinstance(name, str):
        raise UnknownBackendError(f"backend must be a name such as 'local', got {name!r}")
    key = ALIASES.get(name.lower(), name.lower())
    if key not in BACKENDS:
        names = sorted(set(BACKENDS) | set(ALIASES))
        raise UnknownBackendError(f"unknown backend {name!r}: use one of {', '.join(names)}")
    return key


def backend_parameters(name):
    """The keyword arguments ``Cluster.new(name, ...)`` accepts, or None if that cannot be known
    here (the backend's package is not installed, or its constructor takes ``**kwargs``)."""
    import inspect
    module_name, class_name = BACKENDS[canonical_backend(name)].split(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError:
        return None  # Cluster.new says what to install
    parameters = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


@contextlib.contextmanager
def launch_lock(backend, name):
    """Hold the lock of experiment ``name`` on ``backend`` (this machine) from the existence
    check to the saved spec: an advisory ``flock`` on ``$SYMPHONY_HOME/locks/``, released
    by the kernel if the launching process dies."""
    import fcntl
    from .state import private_dir, symphony_home
    directory = private_dir(os.path.join(symphony_home(), "locks"))
    fd = os.open(os.path.join(directory, f"{backend}-{name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another launch of {name!r} on this machine to finish ...", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def rollback_shield():
    """Let a rollback finish: Ctrl-C pressed again while it runs is ignored (the launch is
    already being undone and its error re-raised), since an interrupted rollback would
    leave half an experiment running."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals only reach the main thread
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        if previous is not None:  # (None: a handler installed from C, which Python cannot put back)
            signal.signal(signal.SIGINT, previous)


def pick_process(experiment, process, candidates):
    """The value of the candidate ``process`` names: an exact ``group/name`` key, else a unique name.

    ``candidates`` are ``(key, name, value)`` triples; an ambiguous or unknown name is a
    one-line error listing the keys to use.
    """
    matches = [c for c in candidates if c[0] == process] or [c for c in candidates if c[1] == process]
    if len(matches) == 1:
        return matches[0][2]
    if matches:
        raise ProcessNotFoundError(f"process name {process!r} is ambiguous in {experiment!r}: use one of "
                                   f"{', '.join(c[0] for c in matches)}")
    raise ProcessNotFoundError(f"experiment {experiment!r} has no process {process!r}: it has "
                               f"{', '.join(c[0] for c in candidates) or 'none'}")


class Cluster:
    """Base of every backend. Build one with ``Cluster.new('local' | 'tmux' | 'docker' | 'kube')``."""

    backend_name = None
    #: where a process's paths live, for reading experiment files: ``cwd`` is a path of this
    #: machine unless processes run in containers; host-path mounts are paths of this machine
    #: unless processes run elsewhere (on a cluster's nodes)
    runs_in_containers = True
    runs_on_this_machine = False

    @staticmethod
    def new(backend, **kwargs):
        """Create the cluster for ``backend`` (case-insensitive; aliases such as 'subproc', 'kubernetes')."""
        module_name, class_name = BACKENDS[canonical_backend(backend)].split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SymphonyError(
                f"backend {backend!r} needs a package that is not installed ({exc.name}): "
                f"pip install 'symphony[{canonical_backend(backend)}]'") from None
        return getattr(module, class_name)(**kwargs)

    def __init__(self, preamble_cmds=None):
        from .spec.model import _string_list
        self.preamble_cmds = _string_list("cluster preamble_cmds", preamble_cmds)
        #: Test hook for failure injection: each backend's ``apply`` calls ``fault_hook(step,
        #: detail)`` before every step (local: record/start/ready; tmux adds script/running;
        #: docker: network/create/start; kube: the kind of each object). Whatever it raises
        #: aborts the launch right there, so tests can check that nothing is left behind.
        self.fault_hook = None

    def _fault_point(self, step, detail):
        if self.fault_hook is not None:
            self.fault_hook(step, detail)

    # --- declaring ----------------------------------------------------------------
    def new_experiment(self, name, **kwargs):
        """A new :class:`~symphony.spec.ExperimentSpec`; the configured username is prefixed."""
        from .config import SymphonyConfig
        from .spec.model import ExperimentSpec
        return ExperimentSpec(SymphonyConfig().experiment_name(name), **kwargs)

    # --- launching ----------------------------------------------------------------
    def launch(self, exp, force=False, dry_run=False):
        """Start every process of ``exp``; returns the plan that was applied (or printed).

        A dry run makes the same checks in the same order as a real launch and prints
        what it would do, so it fails exactly when the launch would: an existing
        experiment is an error without ``force``, and with it is reported as replaced
        and planned with :meth:`plan_replacing`.
        """
        exp.validate()
        if dry_run:
            return self._launch(exp, force, dry_run)
        with launch_lock(self.backend_name, exp.name):
            return self._launch(exp, force, dry_run)

    def _launch(self, exp, force, dry_run):
        from .config import SymphonyConfig
        try:
            exists, unchecked = exp.name in self.list_experiments(), None
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
        return plan

    def experiment_exists_error(self, name):
        """The error for launching ``name`` while it runs, worded for Python and the CLI alike."""
        return ExperimentExistsError(
            f"experiment {name!r} is already running on the {self.backend_name} backend: delete it first "
            f"(`symphony delete {name}`), or replace it with --force (force=True in Python)")

    @staticmethod
    def not_exposed_error(experiment, service, exposed):
        """``visit`` of a service that is bound but not exposed: it has no URL outside the experiment."""
        return SymphonyError(f"service {service!r} of {experiment!r} is bound, not exposed, so it has no URL: "
                             f"declare it with exposes instead of binds and relaunch (it exposes "
                             f"{', '.join(sorted(exposed)) or 'none'})")

    def plan(self, exp):
        """What ``apply`` would create, as a printable plan object (no side effects)."""
        raise NotImplementedError

    def plan_replacing(self, exp):
        """The plan of a forced relaunch, as if the running experiment of that name were gone.

        The default is :meth:`plan`; a backend whose plan depends on what runs (ports
        reserved on this host) overrides it so that what the old run holds counts as free.
        """
        return self.plan(exp)

    def prepare(self, exp):
        """Work that creates nothing of the experiment (building and pushing images), done before
        a forced relaunch deletes the running one; its result goes to :meth:`apply`."""
        return None

    def apply(self, exp, prepared=None):
        """Create the experiment (``prepared`` from :meth:`prepare`, or prepare now); must leave
        nothing behind if it fails."""
        raise NotImplementedError

    # --- querying -----------------------------------------------------------------
    def list_experiments(self):
        raise NotImplementedError

    def describe_experiment(self, name):
        """List of :class:`ProcessStatus`, one per process."""
        raise NotImplementedError

    def get_log(self, experiment, process, follow=False, since=None, tail=None):
        """Iterator over the process's output lines."""
        raise NotImplementedError

    def external_url(self, experiment, service):
        raise NotImplementedError

    def delete(self, name):
        raise NotImplementedError

    # --- acting on a process (exec, ssh, scp) -------------------------------------
    def exec_command(self, experiment, process, argv):
        """Run ``argv`` in the process's environment (SYMPH_* vars, cwd); return its exit code."""
        raise SymphonyError(f"exec is not supported on the {self.backend_name} backend")

    def shell(self, experiment, process):
        """An interactive shell in the process's environment (``symphony ssh``); returns its exit code."""
        raise SymphonyError(f"ssh is not supported on the {self.backend_name} backend")

    def copy(self, experiment, source, destination):
        """``symphony scp``: ``source``/``destination`` are ``(process or None, path)``; None is this machine."""
        raise SymphonyError(f"scp is not supported on the {self.backend_name} backend")

    def require_experiment(self, name):
        if name not in self.list_experiments():
            raise ExperimentNotFoundError(
                f"no experiment {name!r} on the {self.backend_name} backend: `symphony ls` lists them")
        return name

    # --- the current experiment, remembered per backend ---------------------------
    def _settings_key(self):
        return f"current_experiment:{self.backend_name}"

    def current_experiment(self):
        """The experiment CLI verbs act on when none is named (set by launch and ``symphony exp``)."""
        from .state import StateStore
        return StateStore().get_setting(self._settings_key())

    def set_experiment(self, name):
        from .state import StateStore
        StateStore().set_setting(self._settings_key(), name)
