"""``Cluster.new('local')``: every process a plain child of a per-experiment supervisor.

The default backend: nothing to install, and what runs here runs the same way in
tmux, Docker or Kubernetes, because all of them share the model, the resolver and
the command construction.
"""

import json
import os
import select
import shutil
import subprocess
import sys
import time
import uuid

from ..cluster import Cluster, ProcessStatus, pick_process, rollback_shield
from ..errors import ExperimentNotFoundError, LaunchError, SymphonyError
from ..host.actions import HostProcessActions
from ..host.logs import parse_since, read_log
from ..host.ports import HostAddressing
from ..host.processes import RUN_ID_VAR, proc_stat, stop_run
from ..state import StateStore, open_private, private_dir
from ..host.plan import LocalPlan, build_plan

READY_TIMEOUT = 120.0
FINAL_STATES = ("exited", "killed", "lost")


class LocalCluster(HostProcessActions, Cluster):
    """Processes on this machine. ``grace``: seconds between SIGTERM and SIGKILL on delete;
    ``restart_backoff``: first delay before a restart (doubling up to 30 s); ``bind_host``:
    the interface servers are told to listen on (``SYMPH_BIND_HOST``; loopback unless you
    ask, e.g. ``'0.0.0.0'`` to be reachable from other machines)."""

    backend_name = "local"
    runs_in_containers = False
    runs_on_this_machine = True

    def __init__(self, preamble_cmds=None, grace=5.0, restart_backoff=1.0, shell=None, bind_host="127.0.0.1"):
        super().__init__(preamble_cmds)
        self.grace = float(grace)
        self.restart_backoff = float(restart_backoff)
        self.shell_path = shell or shutil.which("bash") or "/bin/sh"
        if not isinstance(bind_host, str) or not bind_host.strip():
            raise ValueError(f"bind_host must be an address such as '127.0.0.1' or '0.0.0.0', got {bind_host!r}")
        self.bind_host = bind_host

    @property
    def store(self):
        # one connection per cluster object, opened on first use (not at import or in dry runs)
        if not hasattr(self, "_store"):
            self._store = StateStore()
        return self._store

    def _log_dir(self, name):
        return os.path.join(self.store.home, "logs", self.backend_name, name)

    # --- plan / apply -------------------------------------------------------------
    def plan(self, exp, run_id=None, reserve=False, replacing=False):
        rule = HostAddressing(self.store, self.backend_name, exp.name, reserve=reserve, bind_host=self.bind_host,
                              replacing=replacing)
        return build_plan(exp, rule, backend=self.backend_name, run_id=run_id or new_run_id(exp.name),
                          log_dir=self._log_dir(exp.name), cluster_preamble=self.preamble_cmds,
                          shell=self.shell_path, restart_backoff=self.restart_backoff, grace=self.grace)

    def plan_replacing(self, exp):
        return self.plan(exp, replacing=True)

    def apply(self, exp, prepared=None):
        store = self.store
        with store.transaction():
            if store.get_experiment(self.backend_name, exp.name) is not None:
                raise self.experiment_exists_error(exp.name)  # launched from elsewhere since launch() looked
            plan = self.plan(exp, reserve=True)
            store.insert_experiment(self.backend_name, exp.name, plan.run_id, exp.to_dict(), plan.to_dict(),
                                    [{"key": p.key, "group": p.group, "name": p.name, "log_path": p.log_path}
                                     for p in plan.processes])
            self._fault_point("record", plan)
        try:
            private_dir(self._log_dir(exp.name))
            _copy_secrets(plan)
            self._fault_point("start", plan)
            self._start_supervisor(plan)
        except BaseException:
            with rollback_shield():
                self._remove(exp.name, plan.run_id)
            raise
        return plan

    def _start_supervisor(self, plan, adopt=False):
        env = {**os.environ, RUN_ID_VAR: plan.run_id, "SYMPHONY_HOME": self.store.home}
        launcher = subprocess.Popen(
            [sys.executable, "-m", "symphony.local.supervisor", plan.backend, plan.experiment]
            + (["--adopt"] if adopt else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, close_fds=True)
        launcher.wait()  # the first fork exits at once; the daemon keeps our pipe until it is ready
        if not adopt:
            self._fault_point("ready", plan)  # the supervisor runs, its processes may be starting
        deadline = time.monotonic() + READY_TIMEOUT
        with launcher.stdout:
            ready, _, _ = select.select([launcher.stdout], [], [], READY_TIMEOUT)
            answer = launcher.stdout.readline().decode().strip() if ready else ""
        if answer != "ok":
            if answer.startswith("error "):
                raise LaunchError(f"launch of {plan.experiment!r} failed, nothing was left running: {answer[6:]}")
            remaining = deadline - time.monotonic()
            reason = "did not start in time" if remaining <= 0 else "died before starting the processes"
            raise LaunchError(f"the supervisor of {plan.experiment!r} {reason}; see "
                              f"{os.path.join(self._log_dir(plan.experiment), 'supervisor.log')}")

    # --- delete -------------------------------------------------------------------
    def delete(self, name):
        """Stop every process of the experiment (and anything they spawned), then forget it."""
        row = self.store.get_experiment(self.backend_name, name)
        if row is None:
            raise ExperimentNotFoundError(f"no experiment {name!r} on the {self.backend_name} backend: `symphony ls` lists them")
        self.store.update_experiment(self.backend_name, name, status="deleting")
        self._remove(name, row["run_id"])
        if self.current_experiment() == name:
            self.set_experiment(None)

    def _remove(self, name, run_id):
        recorded = [(row["pid"], row["started"]) for row in self.store.processes(self.backend_name, name)]
        stop_run(run_id, grace=self.grace, recorded=recorded)
        self.store.delete_experiment(self.backend_name, name)
        shutil.rmtree(self._log_dir(name), ignore_errors=True)

    # --- queries ------------------------------------------------------------------
    def list_experiments(self):
        return self.store.experiment_names(self.backend_name)

    def _experiment_row(self, name):
        row = self.store.get_experiment(self.backend_name, name)
        if row is None:
            raise ExperimentNotFoundError(f"no experiment {name!r} on the {self.backend_name} backend: `symphony ls` lists them")
        return row

    def _ensure_supervised(self, row):
        """Re-adopt a running experiment whose supervisor died; returns the current row.

        Only one caller wins the claim (an UPDATE conditioned on the dead pid), so two
        concurrent ``symphony p`` never start two supervisors.
        """
        if row["status"] != "running" or _alive(row["supervisor_pid"]):
            return row
        with self.store.transaction() as db:
            claimed = db.execute("UPDATE experiments SET supervisor_pid = NULL WHERE backend = ? AND name = ? "
                                 "AND supervisor_pid IS ?", (self.backend_name, row["name"], row["supervisor_pid"]))
        if claimed.rowcount == 1:
            self._start_supervisor(LocalPlan.from_dict(json.loads(row["plan"])), adopt=True)
        return self._experiment_row(row["name"])

    def describe_experiment(self, name):
        row = self._ensure_supervised(self._experiment_row(name))
        adopted = f"re-adopted after its supervisor died ({row['adoptions']}×)" if row["adoptions"] else ""
        statuses = []
        for proc in self.store.processes(self.backend_name, name):
            state = proc["status"]
            statuses.append(ProcessStatus(
                key=proc["key"], group=proc["grp"], name=proc["name"], state=state,
                ready=state == "running", restarts=proc["restarts"], exit_code=proc["exit_code"],
                signal=proc["signal"], started=proc["started"], finished=proc["finished"],
                pid=proc["pid"], detail=adopted if state == "running" and adopted and
                _parent(proc["pid"]) != row["supervisor_pid"] else ""))  # not restarted by the new supervisor
        return statuses

    def _process_row(self, name, process):
        rows = self.store.processes(self.backend_name, self._experiment_row(name)["name"])
        return pick_process(name, process, [(row["key"], row["name"], row) for row in rows])

    def get_log(self, experiment, process, follow=False, since=None, tail=None):
        row = self._process_row(experiment, process)
        self._ensure_supervised(self._experiment_row(experiment))
        return read_log(row["log_path"], follow=follow, since=parse_since(since), tail=tail,
                        still_running=lambda: self._still_running(experiment, row["key"]))

    def _still_running(self, experiment, key):
        """Whether ``logs --follow`` should keep waiting for more output of ``key``."""
        exp_row = self.store.get_experiment(self.backend_name, experiment)
        current = [r for r in self.store.processes(self.backend_name, experiment) if r["key"] == key]
        return bool(current) and current[0]["status"] not in FINAL_STATES and exp_row is not None \
            and _alive(exp_row["supervisor_pid"])

    def external_url(self, experiment, service):
        """Only an exposed service has a URL, as on every backend: a bound one is internal to the experiment."""
        from ..spec import ExperimentSpec
        exposed = ExperimentSpec.from_dict(json.loads(self._experiment_row(experiment)["spec"])).exposed_services()
        port = self.store.db.execute(
            "SELECT port FROM ports WHERE backend = ? AND experiment = ? AND service = ?",
            (self.backend_name, experiment, service)).fetchone()
        if port is None:
            raise SymphonyError(f"experiment {experiment!r} has no service {service!r}: it exposes "
                                f"{', '.join(exposed) or 'none'}")
        if service not in exposed:
            raise self.not_exposed_error(experiment, service, exposed)
        return f"http://127.0.0.1:{port[0]}"

    def process_environment(self, experiment, process):
        """(env additions, cwd) of a process, for ``symphony exec``/``ssh``."""
        row = self._process_row(experiment, process)
        plan = LocalPlan.from_dict(json.loads(self._experiment_row(experiment)["plan"]))
        planned = next(p for p in plan.processes if p.key == row["key"])
        env = {k: v for k, v in planned.env.items() if k != RUN_ID_VAR}
        return env, planned.cwd


def _copy_secrets(plan):
    """Private copies of the experiment's secret files (removed with the experiment)."""
    if not plan.secrets:
        return
    private_dir(plan.secrets_dir)
    for key, source in plan.secrets:
        with open(source, "rb") as original, open_private(os.path.join(plan.secrets_dir, key), "wb") as copy:
            shutil.copyfileobj(original, copy)


def new_run_id(name):
    """A unique id for one launch; every process of it carries it as SYMPH_RUN_ID."""
    return f"{name}-{uuid.uuid4().hex[:12]}"


def _alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = proc_stat(pid)
    return stat is None or stat.state != "Z"  # (unreadable: it exists, so count it alive)


def _parent(pid):
    """Parent pid of ``pid`` (None if it is gone): tells an adopted process from one the
    current supervisor started itself."""
    stat = proc_stat(pid) if pid else None
    return stat.ppid if stat else None
