"""What the host backends (local, tmux) share as clusters: one base, no backend importing another.

Both run their processes on this machine from the same plan (:mod:`symphony.host.plan`),
keep the same rows in the state database and stop a run the same way; they differ only
in who starts and watches the processes (a supervisor daemon, or a tmux server) and so in
how a process's status is read. :class:`HostCluster` holds everything of the first kind:

* planning (addresses reserved on this host, argv, cwd, environment, log files);
* ``apply``: record the experiment and reserve its ports in one transaction, copy its
  secrets privately, then :meth:`HostCluster._start_supervisor` (the backend's own
  step); a failure anywhere removes everything;
* ``delete``: stop every process of the run (found by its run marker or its recorded
  pid and start ticks), forget the rows, remove the logs;
* lookups of experiments and processes, logs (``--since``/``--follow``), ``visit``
  URLs, and the environment ``exec``/``ssh``/``scp`` run in.

A backend subclass provides ``_start_supervisor(plan)``, ``describe_experiment(name)``
and ``_still_running(experiment, key)`` (whether ``logs --follow`` keeps waiting).
"""

import abc
import os

from ..cluster import Cluster, pick_process, rollback_shield
from ..cluster.base import setting_seconds
from ..cluster.progress import delete_progress
from ..errors import BackendSettingError, ExperimentNotFoundError, SymphonyError
from ..state import ExperimentStatus, StateStore, open_private, private_dir
from .actions import HostProcessActions
from .logs import parse_since, read_log
from .processes import RUN_ID_VAR, stop_run, supervisor_and_guardian


class HostCluster(HostProcessActions, Cluster):
    """Base of the backends whose processes run on this machine.

    ``grace``: seconds between SIGTERM and SIGKILL on delete; ``restart_backoff``: first
    delay before a restart (doubling up to 30 s); ``shell`` runs ``cmds`` and preambles
    (default bash); ``bind_host``: the interface servers are told to listen on
    (``SYMPH_BIND_HOST``; loopback unless you ask, e.g. ``'0.0.0.0'``).
    """

    runs_on_this_machine = True

    def __init__(self, preamble_cmds=None, grace=5.0, restart_backoff=1.0, shell=None, bind_host="127.0.0.1"):
        super().__init__(preamble_cmds)
        self.grace = setting_seconds("grace", grace, "seconds between SIGTERM and SIGKILL on delete", 5)
        self.restart_backoff = setting_seconds("restart_backoff", restart_backoff, "first delay before a restart", 1)
        # bash is looked up when a plan needs it (shutil: not for `symphony p`); a shell given is checked now
        self._shell_path = None if shell is None else self._shell(shell)
        if not isinstance(bind_host, str) or not bind_host.strip() or bind_host != bind_host.strip():
            raise BackendSettingError(f"bind_host must be an address such as '127.0.0.1' or '0.0.0.0', "
                                      f"got {bind_host!r}")
        self.bind_host = bind_host

    @property
    def shell_path(self):
        if self._shell_path is None:
            self._shell_path = self._shell(None)
        return self._shell_path

    def _shell(self, shell):
        """The program that runs ``cmds`` and preambles: ``shell`` (a path, or a name on PATH), else bash.
        It must exist here: every process of these backends runs on this machine."""
        import shutil
        if shell is None:
            return shutil.which("bash") or "/bin/sh"
        fix = "give a path such as '/bin/bash', or leave it out for bash"
        if not isinstance(shell, str) or not shell.strip():
            raise BackendSettingError(f"shell must be a program: {fix}, got {shell!r}")
        if shutil.which(shell) is None:
            raise BackendSettingError(f"shell {shell!r} is not an executable program on this machine: {fix}")
        return shell

    @property
    def store(self):
        # one connection per cluster object, opened on first use (not at import or in dry runs)
        if not hasattr(self, "_store"):
            self._store = StateStore()
        return self._store

    def _log_dir(self, name):
        return os.path.join(self.store.home, "logs", self.backend_name, name)

    # --- plan / apply -------------------------------------------------------------
    def host_plan(self, exp, run_id=None, reserve=False, replacing=False):
        """The :class:`LocalPlan` of ``exp`` on this host (``reserve``: record its ports; inside a transaction)."""
        from .plan import build_plan  # (the resolver and the model: not needed by `symphony p`)
        from .ports import HostAddressing
        rule = HostAddressing(self.store, self.backend_name, exp.name, reserve=reserve, bind_host=self.bind_host,
                              replacing=replacing)
        return build_plan(exp, rule, backend=self.backend_name, capabilities=self.capabilities,
                          run_id=run_id or new_run_id(exp.name), log_dir=self._log_dir(exp.name),
                          cluster_preamble=self.preamble_cmds,
                          shell=self.shell_path, restart_backoff=self.restart_backoff, grace=self.grace)

    def plan(self, exp, run_id=None, reserve=False, replacing=False):
        return self.host_plan(exp, run_id, reserve, replacing)

    def plan_replacing(self, exp):
        return self.plan(exp, replacing=True)

    def apply(self, exp, prepared=None):
        store = self.store
        run_id = new_run_id(exp.name)
        try:
            self._prepare_start(exp, run_id)
            with store.transaction():
                if store.get_experiment(self.backend_name, exp.name) is not None:
                    raise self.experiment_exists_error(exp.name)  # launched from elsewhere since launch() looked
                plan = self.plan(exp, run_id=run_id, reserve=True)
                store.insert_experiment(self.backend_name, exp.name, plan.run_id, exp.to_dict(), plan.to_dict(),
                                        [{"key": p.key, "group": p.group, "name": p.name, "log_path": p.log_path}
                                         for p in plan.processes])
                self._fault_point("record", plan)
        except BaseException:
            with rollback_shield():
                self._abandon_start(run_id)
            raise
        try:
            private_dir(self._log_dir(exp.name))
            copy_secrets(plan)
            self._fault_point("start", plan)
            self._start_supervisor(plan)
        except BaseException:
            with rollback_shield():
                self._abandon_start(run_id)
                self._remove(exp.name, plan.run_id)
            raise
        return plan

    def _prepare_start(self, exp, run_id):
        """Begin whatever the backend's start step can do before the experiment is planned and recorded
        (the local backend: its supervisor, forked or starting up as an interpreter, getting ready
        meanwhile). Nothing by default."""

    def _abandon_start(self, run_id):
        """Undo :meth:`_prepare_start` for a launch that failed before :meth:`_start_supervisor` used it."""

    @abc.abstractmethod
    def _start_supervisor(self, plan):
        """Start the recorded plan's processes (the backend's own step of ``apply``); raise if that fails."""
        raise NotImplementedError

    # --- delete -------------------------------------------------------------------
    def delete(self, name):
        """Stop every process of the experiment (and anything they spawned), then forget it."""
        row = self._experiment_row(name, brief=True)
        self._remove(name, row["run_id"])
        if self.current_experiment() == name:
            self.set_experiment(None)

    def _remove(self, name, run_id):
        # first: a supervisor starting or restarting processes meanwhile stops at the sight of it
        self.store.update_experiment(self.backend_name, name, status=ExperimentStatus.DELETING)
        self._before_stop(name, run_id)
        recorded = [(row["pid"], row["start_ticks"]) for row in self.store.processes(self.backend_name, name)]
        row = self.store.get_experiment(self.backend_name, name, brief=True)
        daemons = supervisor_and_guardian(row["supervisor_pid"], row["supervisor_ticks"]) if row is not None else []
        with delete_progress(name, len(recorded), state="stopped") as progress:
            stop_run(run_id, grace=self.grace, recorded=recorded + daemons,
                     remaining_count=lambda left: progress.update(max(0, len(recorded) - left)))
        self.store.delete_experiment(self.backend_name, name)
        import shutil
        shutil.rmtree(self._log_dir(name), ignore_errors=True)

    def _before_stop(self, name, run_id):
        """The backend's own part of a delete or roll-back, once the experiment is marked deleting and
        before every process of the run is stopped. Nothing by default."""

    # --- queries ------------------------------------------------------------------
    def list_experiments(self):
        return self.store.experiment_names(self.backend_name)

    def _experiment_row(self, name, brief=False):
        row = self.store.get_experiment(self.backend_name, name, brief=brief)
        if row is None:
            raise ExperimentNotFoundError(f"no experiment {name!r} on the {self.backend_name} backend: `symphony ls` lists them")
        return row

    def _process_row(self, name, process):
        rows = self.store.processes(self.backend_name, self._experiment_row(name)["name"])
        return pick_process(name, process, [(row["key"], row["name"], row) for row in rows])

    def _ensure_supervised(self, row):
        """Make sure someone watches the experiment of ``row`` before its logs are followed; returns
        its current row. Nothing to do unless the backend's watcher can die (the local supervisor)."""
        return row

    #: how long ``logs --follow`` keeps reading a process that ended, until its log is still this long
    #: (0: the process writes its log file itself, so its end comes after its last line)
    log_settle_seconds = 0.0

    @abc.abstractmethod
    def _still_running(self, experiment, key):
        """Whether ``logs --follow`` should keep waiting for more output of ``key``."""
        raise NotImplementedError

    def get_log(self, experiment, process, follow=False, since=None, tail=None):
        row = self._process_row(experiment, process)
        self._ensure_supervised(self._experiment_row(experiment))
        return read_log(row["log_path"], follow=follow, since=parse_since(since), tail=tail,
                        still_running=lambda: self._still_running(experiment, row["key"]),
                        settle=self.log_settle_seconds)

    def exposed_services(self, experiment):
        from ..spec import ExperimentSpec
        import json
        return ExperimentSpec.from_dict(json.loads(self._experiment_row(experiment)["spec"])).exposed_services()

    def external_url(self, experiment, service):
        """Only an exposed service has a URL, as on every backend: a bound one is internal to the experiment."""
        exposed = self.exposed_services(experiment)
        port = self.store.service_port(self.backend_name, experiment, service)
        if port is None:
            raise SymphonyError(f"experiment {experiment!r} has no service {service!r}: it exposes "
                                f"{', '.join(exposed) or 'none'}")
        if service not in exposed:
            raise self.not_exposed_error(experiment, service, exposed)
        return f"http://127.0.0.1:{port}"

    def process_environment(self, experiment, process):
        """(env additions, cwd) of a process, for ``symphony exec``/``ssh``."""
        row = self._process_row(experiment, process)
        from .plan import LocalPlan
        import json
        plan = LocalPlan.from_dict(json.loads(self._experiment_row(experiment)["plan"]))
        planned = next(p for p in plan.processes if p.key == row["key"])
        env = {k: v for k, v in planned.env.items() if k != RUN_ID_VAR}
        return env, planned.cwd


def copy_secrets(plan):
    """Private copies of the experiment's secret files (removed with the experiment)."""
    if not plan.secrets:
        return
    private_dir(plan.secrets_dir)
    for key, source in plan.secrets:
        with open(source, "rb") as original, open_private(os.path.join(plan.secrets_dir, key), "wb") as copy:
            import shutil
            shutil.copyfileobj(original, copy)


def new_run_id(name):
    """A unique id for one launch; every process of it carries it as SYMPH_RUN_ID."""
    import uuid
    return f"{name}-{uuid.uuid4().hex[:12]}"
