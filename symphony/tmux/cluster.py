"""``Cluster.new('tmux')``: every process in its own window of a private tmux server.

People watch their processes live while developing: experiment = tmux session,
process = window ``process`` (or ``group:process``), on a server of its own
(``tmux -L __symphony__``) so the user's own sessions are never touched.

The tmux backend shares with the local backend everything but the supervisor
(:class:`symphony.host.cluster.HostCluster`): the plan (argv, cwd, environment,
ports reserved in SQLite), the state rows, ``exec``, ``scp``, ``visit`` and the
kill-everything ``delete``. What differs is who starts and watches the processes:

* launch: one ``tmux source-file`` call builds the whole session (see
  :mod:`symphony.tmux.script`);
* each window's program is a small runner (:mod:`symphony.tmux.runner`) that runs the
  process as its child, records its pid, its exit code or signal, and applies the
  restart policy and backoff itself: restarts never wait for tmux to notice an exit
  (which it may miss for minutes, see the runner);
* status: the runner's records in the state database; tmux tells whether the session,
  the window and the runner are still there;
* logs: ``pipe-pane`` appends each window's output to its log file, and a small
  indexer (:mod:`symphony.tmux.log_index`) keeps the ``--since`` index.

Status reads one ``tmux list-panes``; libtmux (``ssh``'s window lookup) is imported only there,
so loading this module costs nothing for ``symphony ls``.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple

from ..cluster import ProcessStatus
from ..cluster.progress import launch_progress
from ..errors import (BackendUnavailableError, ExperimentExistsError, ExperimentNotFoundError, LaunchError,
                      SpecError, SymphonyError)
from ..host.cluster import HostCluster
from ..resolution.capabilities import HOST, with_backend
from ..host.processes import RUN_ID_VAR, signal_name
from ..host.readiness import READINESS_FILE, apply_readiness, probe_all, read_document, write_document
from ..state import ExperimentStatus, open_private, private_dir
from ..status import FINAL_STATES, ProcessState
from .client import BACKEND, run_tmux, source_script, tmux_binary
from .runner import DELETING_SUFFIX, EVENTS_FILE, ingest
from .script import READINESS_PLAN, SERVER_KEY, TmuxPlan, wait_outcome_path, window_name

DEFAULT_SERVER = "__symphony__"
#: what the status of a process needs to know of its window's pane (tmux's format names)
Pane = namedtuple("Pane", ("window_name", "pane_dead", "pane_dead_status", "pane_dead_signal", "pane_dead_time"))
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
#: tmux's own variables, which must not leak from a launching shell that runs inside tmux (nor do the
#: launching shell's SYMPH_* variables: the session's are this experiment's)
TMUX_VARS = ("TMUX", "TMUX_PANE")


def check_server_name(name):
    if not isinstance(name, str) or not _SERVER_NAME.fullmatch(name):  # fullmatch: '$' allows a final newline
        raise SpecError(f"tmux server_name {name!r} is invalid: use 1-100 letters, digits, '_', '.' or '-', "
                        f"e.g. {DEFAULT_SERVER!r}")
    return name


class TmuxCluster(HostCluster):
    """Processes in windows of a private tmux server (``tmux -L <server_name>``).

    ``preamble_cmds`` run first in every window's shell; ``grace``: seconds between
    SIGTERM and SIGKILL on delete; ``restart_backoff``: first delay before a restart
    (doubling up to 30 s); ``shell`` runs ``cmds`` and preambles (default bash).

    Nothing ever needs re-adopting: the tmux server keeps the panes, and each window's
    runner restarts its process.
    """

    backend_name = BACKEND
    capabilities = with_backend(HOST, BACKEND)
    #: a pane's output reaches its log through tmux's pipe (the server reads the terminal, then writes the
    #: pipe): the runner may record a process's end while its last lines are still on that way
    log_settle_seconds = 2.0

    def __init__(self, preamble_cmds=None, server_name=DEFAULT_SERVER, grace=5.0, restart_backoff=1.0, shell=None,
                 bind_host="127.0.0.1"):
        super().__init__(preamble_cmds, grace=grace, restart_backoff=restart_backoff, shell=shell, bind_host=bind_host)
        self.server_name = check_server_name(server_name)

    # --- plan / apply (HostCluster.apply reserves ports, records rows, cleans up on failure) ---
    def plan(self, exp, run_id=None, reserve=False, replacing=False):
        return TmuxPlan(self.host_plan(exp, run_id, reserve, replacing), self.server_name, sys.executable,
                        self.store.home, shutil.which("perl") or "perl")

    def _start_supervisor(self, plan):
        """tmux is the supervisor here: one ``source-file`` call creates the session and every window."""
        tmux_binary()
        if shutil.which(plan.perl) is None:
            raise BackendUnavailableError("perl is not installed: every tmux window's runner is a small Perl program "
                                          "(apt-get install perl-base), or use Cluster.new('local')")
        private_dir(self._log_dir(plan.experiment))
        launch_env = {name: value for name, value in os.environ.items()
                      if name not in TMUX_VARS and not name.startswith("SYMPH_")}
        for process in plan.processes:  # exist (private) from the start, so `logs --follow` can wait on them
            open_private(process.log_path, "a").close()
        open_private(plan.hook_log(), "a").close()  # private before the hooks' shell redirection appends to it
        open_private(plan.events(), "a").close()    # the runners only append to it
        readiness = plan.readiness_plan()
        if readiness is not None:
            write_document(os.path.join(self._log_dir(plan.experiment), READINESS_PLAN), readiness)
        specs = plan.wait_specs()
        if specs:
            private_dir(os.path.dirname(next(iter(specs))))
            for path, spec in specs.items():
                with open_private(path, "w") as handle:
                    json.dump(spec, handle)
        shared = plan.shared_env()
        in_file = plan.split_shared(shared)[1]
        if in_file:  # (read by every window's runner: written before tmux starts any)
            with open_private(plan.shared_env_file(), "w") as handle:
                handle.write(plan.shared_env_text(in_file))
        commands = plan.launch_commands(launch_env, shared)
        self._fault_point("script", commands)  # a test may also insert a failing tmux command
        started = time.time()  # (each runner records its process's own start once tmux has built the session)
        # tmux builds every window in one call: the line can only show that it is under way
        with launch_progress(plan.experiment, len(plan.processes), what="windows", state="created") as progress:
            result = source_script(self.server_name, plan.launch_script(), plan.script(commands))
            if result.returncode == 0:
                progress.update(len(plan.processes))
        if result.returncode != 0:
            error = result.stderr.strip() or f"tmux exited with status {result.returncode}"
            if error.startswith("duplicate session"):
                raise ExperimentExistsError(
                    f"tmux server {self.server_name!r} already has a session {plan.experiment!r} that Symphony did "
                    f"not record: `tmux -L {self.server_name} kill-session -t {plan.experiment}` or choose another name")
            raise LaunchError(f"tmux could not start {plan.experiment!r}, nothing was left running: {error}")
        self._fault_point("running", plan)
        # one transaction for all processes; the runners record an end only once it is done, so it never hides one
        self.store.mark_started(self.backend_name, plan.experiment, started)

    def _server_of(self, name):
        """The tmux server experiment ``name`` was launched on, whatever server this object was created with.

        The CLI builds its cluster from the config (default server ``__symphony__``), while the
        experiment may run on ``Cluster.new('tmux', server_name='foo')``. Read by SQLite from the
        stored plan: parsing a 100-process plan in Python costs ~10 ms on every ``symphony p``.
        A plan recorded before the server was stored names none: this object's server then.
        """
        return self.store.plan_field(self.backend_name, name, SERVER_KEY) or self.server_name

    def _events(self, name):
        return os.path.join(self._log_dir(name), EVENTS_FILE)

    def _ingest(self, name, run_id, deleting=False):
        """Bring the process rows up to date with what the windows' runners recorded."""
        ingest(self.store, name, run_id, self._events(name), deleting=deleting)

    # --- delete -------------------------------------------------------------------
    def _before_stop(self, name, run_id):
        """Close the session (if it is the one this run created); every marked process is stopped next
        (those the runners recorded included: a process that cleared its environment lost the marker)."""
        self._ingest(name, run_id, deleting=True)
        if os.path.isdir(self._log_dir(name)):
            open_private(self._events(name) + DELETING_SUFFIX, "a").close()
        server = self._server_of(name)
        try:
            marker = run_tmux(server, "show-environment", "-t", f"={name}", RUN_ID_VAR)
            if marker.returncode == 0 and marker.stdout.strip() == f"{RUN_ID_VAR}={run_id}":
                run_tmux(server, "kill-session", "-t", f"={name}")
        except BackendUnavailableError:
            pass  # no usable tmux, so no session to close; the processes are still stopped next

    # --- queries ------------------------------------------------------------------
    def _session(self, name, server_name):
        """``(libtmux session, None)``, or ``(None, why it is gone)``."""
        import libtmux
        import libtmux.exc
        if not shutil.which("tmux"):
            return None, "tmux is not installed or not on PATH: install it or fix PATH, then retry"
        try:
            server = libtmux.Server(socket_name=server_name)
            if not server.is_alive():
                return None, (f"tmux server {server_name!r} is not running (killed outside Symphony?); "
                              f"`symphony delete {name}` cleans up")
            session = server.sessions.get(session_name=name, default=None)
        except (libtmux.exc.LibTmuxException, OSError) as exc:
            return None, f"cannot query tmux server {server_name!r}: {exc}"
        if session is None:
            return None, f"tmux session {name!r} was closed outside Symphony; `symphony delete {name}` cleans up"
        return session, None

    def _panes(self, name, server_name):
        """``({window name: Pane}, None)``, or ``(None, why they are gone)``.

        One ``list-panes`` of just the fields the status needs: libtmux would first list the
        sessions, then ask for some hundred fields of every pane (and take a tenth of a second to
        import), on every ``symphony p``.
        """
        if not shutil.which("tmux"):
            return None, "tmux is not installed or not on PATH: install it or fix PATH, then retry"
        result = run_tmux(server_name, "list-panes", "-s", "-t", f"={name}", "-F",
                          "\t".join(f"#{{{field}}}" for field in Pane._fields))
        if result.returncode != 0:
            error = result.stderr.strip()
            if error.startswith(("no server running", "error connecting", "server exited unexpectedly")):
                return None, (f"tmux server {server_name!r} is not running (killed outside Symphony?); "
                              f"`symphony delete {name}` cleans up")
            if error.startswith("can't find"):  # (tmux 3.3 looks the session up as a window: "can't find window")
                return None, f"tmux session {name!r} was closed outside Symphony; `symphony delete {name}` cleans up"
            return None, f"cannot query tmux server {server_name!r}: {error or 'tmux failed'}"
        panes = {}
        for line in result.stdout.splitlines():
            fields = line.split("\t")
            if len(fields) == len(Pane._fields):
                panes[fields[0]] = Pane(*fields)
        return panes, None

    def describe_experiment(self, name):
        row = self._experiment_row(name, brief=True)  # (its spec and plan grow with its processes)
        server_name = self._server_of(name)
        panes, gone = self._panes(name, server_name)
        # after asking tmux: a runner appends its process's end before it ends, so a dead pane's end is read too
        self._ingest(name, row["run_id"])
        procs = self.store.processes(self.backend_name, name)
        if panes and any(self._unreaped(panes.get(window_name(proc["key"])), proc) for proc in procs):
            self._nudge_server(server_name)
            panes, gone = self._panes(name, server_name)
        statuses = [self._status(proc, row, panes, gone) for proc in procs]
        document = self._readiness(name, statuses)
        if document is not None:
            now = time.time()
            for status in statuses:
                apply_readiness(status, document, now)
        return statuses

    def _readiness(self, name, statuses):
        """The readiness document (:mod:`symphony.host.readiness`) of the experiment, made now: the checks
        of the services whose providers run, run from here at once; what the held windows wait for, and
        since when, from their runners' records. None when nothing is checked or held (nothing probed).

        The checks and waits are those the launch wrote beside the logs (:data:`READINESS_PLAN`): reading
        them from the stored plan would parse every process's plan on every query."""
        planned = read_document(os.path.join(self._log_dir(name), READINESS_PLAN))
        if not planned:
            return None
        rows = [(key, checks, planned["waits"].get(key, [])) for key, checks in planned["checks"].items()]
        rows += [(key, [], waits) for key, waits in planned["waits"].items() if key not in planned["checks"]]
        from ..resolution.resolved import ResolvedCheck
        by_key = {status.key: status for status in statuses}
        provides, checks, held, outcomes = {}, [], {}, {}
        for key, provided, waits in rows:
            status = by_key.get(key)
            if status is None:
                continue
            if provided:
                provides[key] = [check["service"] for check in provided]
                if status.state is ProcessState.RUNNING:
                    checks += [ResolvedCheck.from_dict(check) for check in provided]
            if waits and status.state is ProcessState.WAITING:
                held[key] = {"waits": waits, "since": status.started}
            elif waits and (status.state is ProcessState.FAILED or status.state is ProcessState.RUNNING
                            and not status.restarts):
                try:
                    with open(wait_outcome_path(self._log_dir(name), key)) as handle:
                        outcomes[key] = handle.read().strip()
                except OSError:
                    pass
        found = probe_all(checks)
        services = {service: {"ready": False, "since": None, "failures": 0, "detail": "not running"}
                    for names in provides.values() for service in names}
        services.update({service: {"ready": result.ok, "since": None, "failures": 0, "detail": result.detail}
                         for service, result in found.items()})
        counted = read_document(os.path.join(self._log_dir(name), READINESS_FILE))  # (the log indexer's)
        for service, data in (counted or {}).get("services", {}).items():
            if service in services:
                services[service]["failures"] = data.get("failures", 0)
        return {"services": services, "provides": provides, "held": held, "outcomes": outcomes}

    @staticmethod
    def _unreaped(pane, proc):
        """A runner that ended without recording its process's end (killed), and that tmux has not reaped yet."""
        return pane is not None and pane.pane_dead == "1" and not pane.pane_dead_status \
            and not pane.pane_dead_signal and ProcessState(proc["status"]) not in FINAL_STATES

    def _nudge_server(self, server_name):
        """Make tmux reap children it missed, so dead panes get their exit status.

        Debian's tmux links libutempter, which briefly replaces tmux's SIGCHLD handler
        while a pane starts or ends; a child that exits in that window is not reaped until
        the next SIGCHLD. Restarts do not depend on it (each window's runner reaps its
        process); only the status of a runner that was itself killed is read from tmux.
        """
        result = run_tmux(server_name, "display-message", "-p", "#{pid}")
        if result.returncode == 0 and result.stdout.strip().isdigit():
            try:
                os.kill(int(result.stdout.strip()), signal.SIGCHLD)
            except OSError:
                return
            time.sleep(0.05)

    @staticmethod
    def _status(proc, row, panes, gone):
        """A process's status from its row (kept by its window's runner) and its pane.

        ``panes`` None: the session is gone, and ``gone`` says why.
        """
        common = dict(key=proc["key"], group=proc["grp"], name=proc["name"], restarts=proc["restarts"],
                      started=proc["started"])
        recorded = ProcessState(proc["status"])
        ended = dict(exit_code=proc["exit_code"], signal=proc["signal"], finished=proc["finished"])
        if panes is None:
            if row["status"] == ExperimentStatus.STARTING:
                return ProcessStatus(state=ProcessState.PENDING, **common)
            return ProcessStatus(state=ProcessState.LOST, detail=gone, finished=proc["finished"], **common)
        pane = panes.get(window_name(proc["key"]))
        if pane is None:
            return ProcessStatus(state=ProcessState.LOST, detail="its window was closed outside Symphony", **common)
        if recorded is ProcessState.FAILED:  # not started at its deadline (its runner recorded it and ended)
            return ProcessStatus(state=recorded, finished=proc["finished"], **common)
        if recorded in FINAL_STATES:  # as its runner recorded it
            return ProcessStatus(state=recorded, **ended, **common)
        if recorded is ProcessState.RESTARTING:  # waiting for its backoff, unless its runner was killed meanwhile
            if pane.pane_dead != "1":
                return ProcessStatus(state=recorded, **ended, **common)
            return ProcessStatus(state=ProcessState.KILLED if proc["signal"] else ProcessState.EXITED, **ended,
                                 **common)
        if pane.pane_dead != "1":
            if recorded is ProcessState.PENDING:
                return ProcessStatus(state=ProcessState.PENDING, **common)
            if recorded is ProcessState.WAITING:  # held until its services are ready (started: since when)
                return ProcessStatus(state=recorded, **common)
            return ProcessStatus(state=ProcessState.RUNNING, ready=True, pid=proc["pid"], **common)
        # the runner ended without recording the end (it was killed): tmux's status of the window is all there is
        if not pane.pane_dead_status and not pane.pane_dead_signal:
            return ProcessStatus(state=ProcessState.RUNNING, detail="exiting", **common)
        exit_code = int(pane.pane_dead_status) if pane.pane_dead_status else None
        killed_by = signal_name(int(pane.pane_dead_signal)) if pane.pane_dead_signal else None
        finished = max(float(pane.pane_dead_time), proc["started"] or 0.0) if pane.pane_dead_time else None
        return ProcessStatus(state=ProcessState.KILLED if killed_by else ProcessState.EXITED, exit_code=exit_code,
                             signal=killed_by, finished=finished, **common)

    def _still_running(self, experiment, key):
        try:
            states = {s.key: s.state for s in self.describe_experiment(experiment)}
        except ExperimentNotFoundError:
            return False
        return states.get(key) in (ProcessState.PENDING, ProcessState.RUNNING, ProcessState.RESTARTING)

    # --- ssh: attach to the process's window ----------------------------------------
    def shell(self, experiment, process):
        """Attach this terminal to the process's window (``symphony ssh``); returns tmux's exit code.

        Checks for a terminal first: without one tmux only says "open terminal failed: not a terminal".
        """
        key = self._process_row(experiment, process)["key"]
        if not os.isatty(0):  # tmux attaches through the stdin it inherits
            raise SymphonyError(f"`symphony ssh {key}` attaches a terminal to its tmux window, but stdin is not a "
                                f"terminal: run it from a terminal, or use `symphony exec {key} -- CMD` to run a command")
        server_name = self._server_of(experiment)
        session, gone = self._session(experiment, server_name)
        if session is None:
            raise SymphonyError(f"cannot attach to {key!r}: {gone}")
        window = session.windows.get(window_name=window_name(key), default=None)
        if window is None:
            raise SymphonyError(f"cannot attach to {key!r}: its window was closed outside Symphony")
        env = {name: value for name, value in os.environ.items() if name not in TMUX_VARS}
        return subprocess.call([tmux_binary(), "-L", server_name, "select-window", "-t", window.window_id,
                                ";", "attach-session", "-t", f"={experiment}"], env=env)
