"""Cluster.new('slurm'): every experiment is one Slurm job, its services resolved once its nodes exist.

An experiment's record is its *job directory*, ``<workdir>/<experiment>/`` (``workdir``
defaults to ``$SYMPHONY_HOME/slurm`` and must be on a file system the nodes share, as the
home directories of most Slurm clusters are): the launch settings and spec, the plan, the
batch script, each process's log and status file. Slurm's own queue (``squeue``) says what
the job is doing; the status files, written by each process's runner on its node, say what
each process did. No other state is kept, so any login node sharing the directory sees the
same experiments.

Launching (see :mod:`symphony.slurm.plan` for why one task per pod):

1. plan through the one resolver with the nodes left open: every declaration check;
2. check the plan against the cluster (partition, node features, CPUs, memory, GPUs of the
   nodes; ``sbatch --test-only`` for the rest, e.g. accounts and QOS): bad input is one line
   before anything is submitted;
3. ``sbatch`` the script; inside the allocation the driver resolves the addresses and
   starts one step per process; ``launch`` returns once every process has checked in (or
   the job is still queued after ``start_timeout``: ``symphony p`` then says why, e.g.
   ``pending: Resources``). A failure anywhere cancels the job (``scancel``) and removes
   its directory.
"""

import json
import os
import sys
import time

from ..cluster import Cluster, pick_process, rollback_shield
from ..errors import (BackendSettingError, ExperimentNotFoundError, LaunchError, SpecError, SymphonyError)
from ..status import ProcessState, ProcessStatus
from . import commands
from .paths import RUNNER, status_path_for, step_path_for

#: what squeue reports while a job waits for its nodes, and while it runs
_QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "CONFIGURING"}
_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
#: seconds between two looks at the queue while a launch waits for its driver
_QUEUE_INTERVAL = 1.0


class SlurmCluster(Cluster):
    """One Slurm job per experiment: one task per pod (group or standalone process), one step per process.

    ``partition``, ``account``, ``qos``, ``time`` (a Slurm time limit), ``constraint`` (node
    features, Slurm's syntax) and ``sbatch_args`` (more sbatch options, e.g.
    ``['--exclusive']``) apply to every component. ``workdir``: where job directories go, on a
    file system the nodes share. ``containers``: whether srun runs container images
    (pyxis/enroot); None finds out from this machine's srun. ``grace``: seconds a process gets
    between SIGTERM and SIGKILL; ``restart_backoff``: first delay before a restart;
    ``start_timeout``: how long ``launch`` waits for a queued job to start before returning.
    """

    backend_name = "slurm"

    def __init__(self, partition=None, account=None, time=None, qos=None, constraint=None, sbatch_args=(),
                 workdir=None, containers=None, preamble_cmds=None, shell="/bin/bash", grace=5.0,
                 restart_backoff=1.0, start_timeout=120.0):
        super().__init__(preamble_cmds)
        self.settings = {
            "partition": commands.check_word("partition", partition, "gpu"),
            "account": commands.check_word("account", account, "my-lab"),
            "qos": commands.check_word("qos", qos, "normal"),
            "time": commands.check_time(time),
            "constraint": self._constraint(constraint),
            "sbatch_args": self._sbatch_args(sbatch_args),
        }
        if workdir is not None and (not isinstance(workdir, str) or not workdir.strip()):
            raise BackendSettingError(f"workdir must be a directory the nodes share, got {workdir!r}")
        self._workdir = os.path.abspath(os.path.expanduser(workdir)) if workdir else None
        self._containers = containers
        if not isinstance(shell, str) or not os.path.isabs(shell):
            raise BackendSettingError(f"shell must be an absolute path on the nodes, such as '/bin/bash', got {shell!r}")
        self.shell_path = shell
        self.grace = self._seconds("grace", grace)
        self.restart_backoff = self._seconds("restart_backoff", restart_backoff)
        self.start_timeout = self._seconds("start_timeout", start_timeout)

    @property
    def capabilities(self):
        """SLURM, or SLURM_CONTAINERS where srun runs images; asked of srun only when a plan needs it, so that
        ``symphony p`` and the other verbs run no ``srun --help`` first."""
        from ..resolution.capabilities import SLURM, SLURM_CONTAINERS
        if self._containers is None:
            self._containers = commands.srun_has_container_images()
        return SLURM_CONTAINERS if self._containers else SLURM

    def _uses_containers(self):
        self.capabilities  # (finds out, if not known yet)
        return bool(self._containers)

    @staticmethod
    def _seconds(name, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise BackendSettingError(f"{name} must be a number of seconds >= 0, got {value!r}")
        return float(value)

    @staticmethod
    def _constraint(constraint):
        if constraint is None:
            return None
        if not isinstance(constraint, str) or not constraint.strip() or any(c.isspace() for c in constraint):
            raise BackendSettingError(f"constraint={constraint!r} is not a Slurm constraint: give node features "
                                      f"such as 'a100' or 'a100&ib' (no spaces)")
        return constraint

    @staticmethod
    def _sbatch_args(args):
        if isinstance(args, str) or not all(isinstance(arg, str) for arg in args or ()):
            raise BackendSettingError(f"sbatch_args must be a list of options such as ['--exclusive'], got {args!r}")
        args = list(args or ())
        for arg in args:
            if not arg.startswith("-") or "\n" in arg:
                raise BackendSettingError(f"sbatch_args: {arg!r} is not an sbatch option: write each option whole, "
                                          f"e.g. '--exclusive' or '--mail-type=END'")
        return args

    # --- where experiments live ---------------------------------------------------
    @property
    def workdir(self):
        if self._workdir is None:
            self._workdir = os.path.join(_symphony_home(), "slurm")
        return self._workdir

    def job_dir(self, name):
        return os.path.join(self.workdir, name)

    def _job(self, name):
        """The job record; ``job_id`` None while (or if) the launch has not submitted it."""
        job_dir = self.job_dir(name)
        if not os.path.exists(os.path.join(job_dir, "launch.json")):
            raise ExperimentNotFoundError(
                f"no experiment {name!r} on the slurm backend: `symphony ls` lists them")
        return _read_json(os.path.join(job_dir, "job.json")) or {"job_id": None}

    # --- plan / apply -------------------------------------------------------------
    def plan(self, exp):
        from .plan import PendingAddressing, build_plan
        return build_plan(exp, PendingAddressing(), capabilities=self.capabilities, job_dir=self.job_dir(exp.name),
                          python=sys.executable, settings=self.settings, shell=self.shell_path,
                          cluster_preamble=self.preamble_cmds, inherited_env=os.environ,
                          restart_backoff=self.restart_backoff, grace=self.grace)

    def apply(self, exp, prepared=None):
        plan = prepared.plan if prepared is not None else self.plan(exp)
        testing = self._start_test_only(plan)  # (Slurm's verdict comes while sinfo is read: two round trips at once)
        try:
            self.check_against_cluster(plan)
        except BaseException:
            testing.kill()
            testing.wait()
            raise
        self._test_only(plan, testing)
        job_dir = plan.job_dir
        from ..state import private_dir
        private_dir(self.workdir)
        try:
            os.mkdir(job_dir, 0o700)  # the claim on the name: two launches of one name cannot both make it
        except FileExistsError:
            raise self.experiment_exists_error(exp.name) from None
        job_id = None
        try:
            self._write_job_dir(exp, plan)
            self._fault_point("submit", plan)
            output = commands.run(plan.sbatch_argv())
            job_id = _job_id(output)
            self._write_json(os.path.join(job_dir, "job.json"), {"job_id": job_id, "submitted": time.time()})
            self._fault_point("start", job_id)
            self._wait_started(exp.name, job_id, job_dir)
        except BaseException:
            with rollback_shield():
                if job_id is not None:
                    commands.cancel(job_id)
                    self._wait_gone(job_id)
                _remove(job_dir)
            raise
        return plan

    def _write_job_dir(self, exp, plan):
        from ..state import open_private, private_dir
        for sub in ("logs", "status", "steps"):
            os.makedirs(os.path.join(plan.job_dir, sub), mode=0o700)
        if plan.secrets:
            private_dir(plan.secrets_dir)
            for key, source in plan.secrets:
                with open(source, "rb") as original, open_private(os.path.join(plan.secrets_dir, key), "wb") as copy:
                    copy.write(original.read())
        plan.save(os.path.join(plan.job_dir, "plan.json"))
        with open(plan.script_path, "w") as handle:
            handle.write(plan.batch_script())
        os.chmod(plan.script_path, 0o700)
        self._write_json(os.path.join(plan.job_dir, "launch.json"), {  # last: it makes the experiment listed
            "spec": exp.to_dict(), "settings": self.settings, "shell": self.shell_path,
            "cluster_preamble": self.preamble_cmds, "containers": self._uses_containers(),
            "restart_backoff": self.restart_backoff, "grace": self.grace})

    @staticmethod
    def _write_json(path, data):
        with open(path + ".tmp", "w") as handle:
            json.dump(data, handle)
        os.replace(path + ".tmp", path)

    def check_against_cluster(self, plan):
        """Refuse, in one line and before anything is submitted, what no node of the cluster can run."""
        from .plan import features_of
        nodes, default = commands.nodes_and_default_partition()
        partitions = sorted({p for node in nodes for p in node.partitions})
        partition = self.settings["partition"] or default
        if self.settings["partition"] and partition not in partitions:
            raise SpecError(f"partition={partition!r} is not a partition of this Slurm cluster: it has "
                            f"{', '.join(partitions) or 'none'}")
        usable = [node for node in nodes if partition is None or partition in node.partitions]
        features = {f for node in usable for f in node.features}
        for pods, options in plan.components:
            who = repr(pods[0]) if len(pods) == 1 else f"each of {', '.join(pods)}"
            wanted = dict(option[2:].split("=", 1) for option in options if "=" in option)
            for feature in features_of(wanted.get("constraint")):
                if feature not in features:
                    raise SpecError(f"{who}: node feature {feature!r} (constraint or node_selector) is on no node "
                                    f"of partition {partition!r}: its nodes have {', '.join(sorted(features)) or 'none'}")
            cpus = int(wanted.get("cpus-per-task", 1))
            needs = {"GPUs": int(wanted.get("gpus-per-task", 0)), "CPUs": cpus,
                     "MiB of memory": int(wanted.get("mem-per-cpu", "0M").rstrip("M")) * cpus}
            for what, have in (("GPUs", lambda n: n.gpus), ("CPUs", lambda n: n.cpus),
                               ("MiB of memory", lambda n: n.memory_mb)):
                most = max((have(n) for n in usable), default=0)
                if needs[what] > most:
                    raise SpecError(f"{who} needs {needs[what]} {what} on one node, but no node of partition "
                                    f"{partition!r} has more than {most}: lower its resource_request/limit")

    @staticmethod
    def _start_test_only(plan):
        """Start ``sbatch --test-only`` on the batch script (given on stdin: nothing is written yet)."""
        import subprocess
        testing = subprocess.Popen([commands.require("sbatch"), "--test-only"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        testing.stdin.write(plan.batch_script())
        testing.stdin.close()
        return testing

    @staticmethod
    def _test_only(plan, testing):
        """``sbatch --test-only``: Slurm's own verdict (accounts, QOS, limits) without submitting anything."""
        output = testing.stdout.read()
        testing.wait()
        if testing.returncode == 0:
            return
        exc = commands.SlurmCommandError("sbatch", output)
        if commands.unreachable(exc.line):
            raise exc
        line = exc.line.replace("sbatch: error: ", "")
        raise SpecError(f"Slurm refuses the job of {plan.experiment!r}: {line}") from None

    def _wait_started(self, name, job_id, job_dir):
        """Until the driver reports every process started; a job still queued after start_timeout is left queued."""
        deadline = time.monotonic() + self.start_timeout
        driver_path = os.path.join(job_dir, "driver.json")
        asked = 0.0
        while True:
            driver = _read_json(driver_path)
            if driver is not None and driver.get("state") == "started":
                return
            if driver is not None and driver.get("state") == "failed":
                raise LaunchError(f"{name!r} did not start on the slurm backend: {driver.get('error')}")
            if time.monotonic() - asked < _QUEUE_INTERVAL:  # the driver's verdict is a file: read it often, and
                time.sleep(0.05)                             # ask slurmctld (a busy daemon) only now and then
                continue
            asked = time.monotonic()
            components = commands.job_components(job_id)
            states = {state for state, *_ in components.values()}
            if not components or not states & (_QUEUED | _RUNNING):
                if _read_json(driver_path) is not None:
                    continue
                raise LaunchError(f"job {job_id} of {name!r} ended before its processes started "
                                  f"({', '.join(sorted(states)) or 'gone'}): {_last_line(job_dir)}")
            if time.monotonic() > deadline:
                if states <= _QUEUED:
                    reasons = sorted({reason for _, reason, *_ in components.values()} - {"None", ""})
                    print(f"note: job {job_id} of {name!r} is still queued ({', '.join(reasons) or 'not scheduled yet'})"
                          f": it starts when "
                          f"Slurm allocates it (symphony p to watch)", file=sys.stderr)
                    return
                raise LaunchError(f"the processes of {name!r} did not all start within {self.start_timeout:g}s: "
                                  f"{_last_line(job_dir)}")

    @staticmethod
    def _wait_gone(job_id, timeout=60.0):
        """Until nothing of the job runs any more (its steps have ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            components = commands.job_components(job_id)
            if not any(state in _QUEUED | _RUNNING for state, *_ in components.values()):
                return
            time.sleep(0.2)

    # --- queries ------------------------------------------------------------------
    def list_experiments(self):
        try:
            names = os.listdir(self.workdir)
        except FileNotFoundError:
            return []
        # (launch.json: a launch under way, or one that died before submitting, is listed so it can be deleted)
        return sorted(name for name in names if os.path.exists(os.path.join(self.workdir, name, "launch.json")))

    def _plans(self, name):
        """(job, the plan the driver resolved if it ran, else the submitted one, whether it is resolved)."""
        from .plan import SlurmPlan  # (dataclasses: not for `symphony ls`)
        job = self._job(name)
        job_dir = self.job_dir(name)
        resolved = os.path.join(job_dir, "resolved.json")
        if os.path.exists(resolved):
            return job, SlurmPlan.load(resolved), True
        return job, SlurmPlan.load(os.path.join(job_dir, "plan.json")), False

    def describe_experiment(self, name):
        """One ``squeue`` call, and the job directory's files read as plain JSON: ``symphony p`` loads
        none of the plan's machinery (the resolver, the model)."""
        job = self._job(name)
        job_dir = self.job_dir(name)
        resolved = _read_json(os.path.join(job_dir, "resolved.json"))
        plan = resolved or _read_json(os.path.join(job_dir, "plan.json"))
        components = commands.job_components(job["job_id"])
        driver = _read_json(os.path.join(job_dir, "driver.json")) or {}
        statuses = []
        checked = []
        for process in plan["processes"] if plan else ():
            record = _read_json(status_path_for(job_dir, process["key"]))
            component = components.get(process["component"])
            status = _status(process, record, component, driver, bool(components))
            statuses.append(status)
            declared = [check for check in process.get("checks", ()) if check["declared"]]
            if resolved and declared and status.state is ProcessState.RUNNING:
                checked.append((status, declared))
        if checked:
            _check_readiness(checked)
        return statuses

    def _process(self, experiment, process):
        _, plan, resolved = self._plans(experiment)
        step = pick_process(experiment, process, [(p.key, p.name, p) for p in plan.processes])
        return plan, step, resolved

    def _still_running(self, experiment, key, job_id):
        job_dir = self.job_dir(experiment)
        record = _read_json(status_path_for(job_dir, key))
        if record is not None and record.get("state") in ("exited", "killed", "failed"):
            return False
        return any(state in _QUEUED | _RUNNING for state, *_ in commands.job_components(job_id).values())

    def get_log(self, experiment, process, follow=False, since=None, tail=None):
        from ..host.logs import parse_since, read_log
        job = self._job(experiment)
        plan, step, _ = self._process(experiment, process)
        seconds = parse_since(since)
        if follow:  # a queued job has no log yet: wait for it rather than end at once
            while not os.path.exists(step.log_path) and self._still_running(experiment, step.key, job["job_id"]):
                time.sleep(0.2)
        return read_log(step.log_path, follow=follow, since=seconds, tail=tail,
                        still_running=lambda: self._still_running(experiment, step.key, job["job_id"]))

    def exposed_services(self, experiment):
        _, plan, _ = self._plans(experiment)
        return sorted({service for process in plan.processes for service in process.exposed})

    def external_url(self, experiment, service):
        _, plan, resolved = self._plans(experiment)
        exposed = self.exposed_services(experiment)
        if service not in plan.addresses:
            raise SymphonyError(f"experiment {experiment!r} has no service {service!r}: it exposes "
                                f"{', '.join(exposed) or 'none'}")
        if service not in exposed:
            raise self.not_exposed_error(experiment, service, exposed)
        if not resolved:
            raise SymphonyError(f"experiment {experiment!r} has not started yet, so {service!r} has no node: "
                                f"`symphony p` shows why it waits")
        host, port = plan.addresses[service]
        return f"http://{host}:{port}"

    # --- delete -------------------------------------------------------------------
    def delete(self, name):
        """``scancel`` the job, wait until none of its steps runs, then remove its directory."""
        job = self._job(name)
        if job["job_id"] is not None:
            commands.cancel(job["job_id"])
            self._wait_gone(job["job_id"], timeout=self.grace + 60)
        _remove(self.job_dir(name))
        if self.current_experiment() == name:
            self.set_experiment(None)

    # --- exec / ssh / scp: a step of the experiment's job on the process's node ---------
    def _srun_in(self, experiment, process, argv, pty=False):
        job = self._job(experiment)
        plan, step, resolved = self._process(experiment, process)
        if not resolved:
            raise SymphonyError(f"process {step.key!r} of {experiment!r} has not started yet: `symphony p` shows why")
        srun = ["srun", f"--jobid={job['job_id']}", "--overlap", "--ntasks=1", "--nodes=1", f"--nodelist={step.node}",
                "--quiet"]
        if len(plan.components) > 1:
            srun.append(f"--het-group={step.component}")
        if pty:
            srun.append("--pty")
        return srun + [plan.python, "-I", "-S", RUNNER, "--exec", step_path_for(plan.job_dir, step.key), "--", *argv]

    def exec_command(self, experiment, process, argv):
        return _call(self._srun_in(experiment, process, list(argv)))

    def shell(self, experiment, process):
        return _call(self._srun_in(experiment, process, ["/bin/bash", "-i"], pty=True))

    def copy(self, experiment, source, destination):
        (src_process, src), (dst_process, dst) = source, destination
        if src_process is not None and dst_process is not None:
            raise SymphonyError("scp copies between this machine and one process: give a local path on one side")
        if src_process is None:
            src = os.path.expanduser(src)
            if not os.path.isfile(src):
                raise SymphonyError(f"cannot copy {src}: no such file (scp on the slurm backend copies files)")
            if dst.endswith("/"):
                dst += os.path.basename(src)
            with open(src, "rb") as handle:
                code = _call(self._srun_in(experiment, dst_process, ["/bin/sh", "-c", 'cat > "$1"', "scp", dst]),
                                       stdin=handle)
        else:
            dst = os.path.expanduser(dst)
            if os.path.isdir(dst):
                dst = os.path.join(dst, os.path.basename(src))
            with open(dst, "wb") as handle:
                code = _call(self._srun_in(experiment, src_process, ["cat", src]), stdout=handle)
        if code != 0:
            raise SymphonyError(f"scp failed (exit {code}) copying {src} to {dst}")
        return dst


def _call(argv, **options):
    import subprocess  # (not for `symphony p`, which spawns its one squeue itself: commands.quick)
    return subprocess.call(argv, **options)


def _held(status, record, component):
    """A process its runner holds until its services are ready (``waiting: replay (not ready 12s)``),
    or did not start because they were not ready in time (``failed`` with the reason)."""
    services = record.get("waiting_for") or []
    extra = {"node": record.get("node")}
    if record["state"] == "failed":
        status.state, status.detail, status.waiting_for = "failed", record.get("detail", ""), services
        status.finished, status.extra = record.get("finished"), extra
    elif component is None or component[0] not in _RUNNING:
        status.state, status.detail = "lost", f"job {component[0].lower() if component else 'ended'}"
    else:
        status = ProcessStatus.held(status.key, status.group, status.name, services,
                                    time.time() - record.get("waiting_since", time.time()), extra=extra)
    return status


def _symphony_home():
    """:func:`symphony.state.symphony_home`, without importing :mod:`symphony.state` (and its sqlite3,
    a tenth of ``symphony p``'s own time) when the state directory exists and is private already: then
    that function would only return its path. Anything else (to be made, a file, an open mode to
    repair) it handles."""
    import stat
    home = os.path.abspath(os.path.expanduser(os.environ.get("SYMPHONY_HOME") or "~/.symphony"))
    try:
        info = os.stat(home)
    except OSError:
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode) and not info.st_mode & 0o077:
        return home
    from ..state import symphony_home
    return symphony_home()


def _remove(directory):
    import shutil
    shutil.rmtree(directory, ignore_errors=True)


def _job_id(output):
    """The job id ``sbatch --parsable`` printed (``id`` or ``id;cluster``)."""
    text = output.strip().split(";")[0]
    if not text.isdigit():
        raise LaunchError(f"sbatch printed no job id: {output.strip()[:200]!r}")
    return int(text)


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _last_line(job_dir):
    """The driver's last words (its log), for an error message."""
    try:
        with open(os.path.join(job_dir, "driver.log"), errors="replace") as handle:
            lines = [line.strip() for line in handle if line.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else "the job wrote no output"


def _check_readiness(checked):
    """``Ready`` of running processes from their declared checks, run now against their node's address,
    all at once (so ``p`` takes at most the longest check's timeout): a TCP connect or an HTTP GET; a
    command check, which runs in its process's environment on its node, is its port accepting a
    connection. Default checks are not run: a server taking one connection (the hello ring's members)
    would take a ``p``'s for its peer's; such a process is ready when it runs, as before."""
    import threading
    from ..readiness.probes import probe_from_outside
    from types import SimpleNamespace
    results = {}

    def run(index, check):
        results[index] = probe_from_outside(SimpleNamespace(**check))
    threads = []
    for at, (_, checks) in enumerate(checked):
        for number, check in enumerate(checks):
            threads.append(threading.Thread(target=run, args=((at, number), check), daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for at, (status, checks) in enumerate(checked):
        failing = [check["service"] for number, check in enumerate(checks) if not results[(at, number)].ok]
        status.checked, status.ready, status.not_ready = True, not failing, failing


def _status(process, record, component, driver, job_known):
    """One process's status: its runner's record, else what Slurm says of its component."""
    status = ProcessStatus(key=process["key"], group=process["group"], name=process["name"], state=ProcessState.PENDING)
    if record is not None and ProcessState(record["state"]) in (ProcessState.WAITING, ProcessState.FAILED):
        return _held(status, record, component)
    if record is not None:
        status.state = record["state"]
        status.ready = status.state is ProcessState.RUNNING
        status.restarts = record.get("restarts", 0)
        status.exit_code, status.signal = record.get("exit_code"), record.get("signal")
        status.started, status.finished, status.pid = record.get("started"), record.get("finished"), record.get("pid")
        status.extra = {"node": record.get("node")}
        if status.state in (ProcessState.RUNNING, ProcessState.RESTARTING):
            status.detail = record.get("node") or ""
            if component is None or component[0] not in _RUNNING:
                status.state, status.ready = ProcessState.LOST, False  # the job ended under it (node failure, time limit)
                status.detail = f"job {component[0].lower() if component else 'ended'}"
        return status
    if driver.get("state") == "failed":
        status.state, status.detail = ProcessState.FAILED, driver.get("error", "")
    elif component is not None and component[0] in _QUEUED:
        status.detail = component[1] if component[1] not in ("None", "") else ""  # not yet considered by the scheduler
    elif component is not None and component[0] in _RUNNING:
        status.state, status.detail = ProcessState.WAITING, f"starting on {component[2]}"
    elif job_known or component is None:
        status.state, status.detail = ProcessState.LOST, "the job ended before this process started"
    return status
