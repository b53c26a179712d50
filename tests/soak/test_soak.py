"""Soak: the same 20-process experiment on local, tmux and Docker at once, for minutes, under CPU load.

``$SYMPHONY_SOAK_BACKENDS`` (default ``local,tmux,docker``) names the backends soaked. On Docker
each process runs under Symphony's restart runner inside its container (symphony/docker/tools.py),
so a restart is a fork there, as on local and tmux, not a container start by the engine (which
under this load took 11-45 s past the backoff), and all three are held to the same bar. The
engine .ci/docker-up starts puts each container directly under the root cgroup (``--cgroup-parent
/``), so a container weighs as much CPU as a local process: under dockerd's default without systemd
all containers together weigh as much as one CPU hog (docs/docker.md, "Restarts").

What runs: 20 processes (tests/soak/soakwork.py's WORKLOAD) under Never, OnFailure and Always;
some end every 1-3 s (exit 0, a non-zero exit, or killed by their own SIGKILL, SIGTERM or
SIGINT), some run 14-15 s (long enough to reset the backoff), some never end. Each numbers its
runs and lines and writes its start and end times. The three experiments are launched together
(one test: CI pays the duration once) and left alone for ``$SYMPHONY_SOAK_SECONDS`` (default
180) with nobody running the CLI, while 4x-the-cores busy loops keep the 1-minute load above
4x the cores: a warm-up adds 12x-the-cores more until the load reaches it (a 60 s average
only approaches the number of busy loops), then stops them, before anything is launched.

Then, per backend:

* every restart (or its absence) against the restart policy, and its delay against the
  backoff plus 2 s: ``restart_delay`` of symphony/host/restarts.py (``restart_backoff`` 0.5 s)
  on every backend;
* ``describe_experiment``'s restart counts against the runs the log shows, the log read between
  two describes that agree (a process that never holds still for SETTLE_SECONDS is held to the
  two readings around its log); a restart is counted when the new run starts;
* the log: no line lost, duplicated or out of order across restarts (numbering), and no run
  missing;
* one ``get_log(..., follow=True)`` reader per process, started at launch, through the
  cluster's Python API: it saw every line of the final log, in order, once;
* Never-policy processes ran once and show how they ended;
* ``delete`` left nothing: no process of the run (pid scan by experiment and run id), no tmux
  window or server, no Docker container, network or volume with the experiment's label.

The figures (restarts observed vs expected, worst restart delay, lines lost and duplicated,
leftovers) are printed at the end of the pytest run (tests/soak/conftest.py), so they show in
the CI log, and are repeated in the failure message.
"""

import io
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

import soakwork
from engines import required_engines
from leftovers import docker_leftovers, experiment_pids, host_leftovers, run_ids, stop_tmux_server, tmux_windows
from soakwork import CpuHogs, Follower, HostBackoff, LoadSampler, analyse, follower_figures
from symphony.host.restarts import should_restart
from symphony.status import FINAL_STATES, ProcessState

pytestmark = [pytest.mark.soak, pytest.mark.slow,
              # minutes long: part of every CI run (which sets SYMPHONY_REQUIRE_ENGINES), else on request
              pytest.mark.skipif("SYMPHONY_SOAK_SECONDS" not in os.environ and not required_engines(),
                                 reason="the soak runs when SYMPHONY_SOAK_SECONDS or SYMPHONY_REQUIRE_ENGINES is set")]

DURATION = float(os.environ.get("SYMPHONY_SOAK_SECONDS", "180"))
#: the backends soaked (all three meet the restart bar under this load)
SOAK_BACKENDS = os.environ.get("SYMPHONY_SOAK_BACKENDS", "local,tmux,docker").split(",")
#: the longest the load may take to reach its target before anything is launched
WARM_UP_SECONDS = 60
#: every backend: the first restart waits this long, doubling per quick failure in a row
BACKOFF = 0.5
#: how long the checks may wait for describe_experiment and the log to agree, per backend
SETTLE_SECONDS = 30.0
#: how long a follower may take to catch up with the final log
CATCH_UP_SECONDS = 20.0

#: (process, restart policy, WORKLOAD mode)
PROCESSES = [
    ("never-ok", "Never", "2-2:x0"),
    ("never-fail", "Never", "1.5-1.5:x3"),
    ("never-kill", "Never", "2.5-2.5:sKILL"),
    ("never-term", "Never", "1-1:sTERM"),
    ("never-long", "Never", "long"),
    ("onfail-fail", "OnFailure", "1-3:x1"),
    ("onfail-kill", "OnFailure", "1-3:sKILL"),
    ("onfail-term", "OnFailure", "1-3:sTERM"),
    ("onfail-mixed", "OnFailure", "1-3:x2,sKILL,x7,x0"),  # its 4th run succeeds: no 5th
    ("onfail-ok", "OnFailure", "2-2:x0"),                 # succeeds at once: never restarted
    ("onfail-stable", "OnFailure", "14-15:x5"),           # long enough to reset the backoff
    ("onfail-long", "OnFailure", "long"),
    ("always-ok", "Always", "1-3:x0"),
    ("always-fail", "Always", "1-3:x4"),
    ("always-kill", "Always", "1-3:sKILL"),
    ("always-term", "Always", "1-3:sTERM"),
    ("always-int", "Always", "1-3:sINT"),
    ("always-mixed", "Always", "1-3:x0,x1,sTERM,sKILL"),
    ("always-stable", "Always", "14-15:x0"),
    ("always-long", "Always", "long"),
]
POLICIES = {name: policy for name, policy, _ in PROCESSES}


# --- the backends -----------------------------------------------------------------------------
class Backend:
    """One backend's experiment: how to make its cluster, launch, read, delete and find leftovers."""

    name = None
    backoff = None

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.experiment = None
        self.launched_at = None
        self.followers = {}
        self.failures = []
        self.run_ids = []
        self.leftovers = None
        self.deleted_at = float("inf")

    def make_cluster(self):
        raise NotImplementedError

    def process_kwargs(self):
        raise NotImplementedError

    def launch(self):
        cluster = self.make_cluster()
        exp = cluster.new_experiment(self.experiment)
        for name, policy, mode in PROCESSES:
            options = self.process_kwargs()
            exp.new_process(name, command=options.pop("command"), args=["-c", soakwork.WORKLOAD, name, mode],
                            env={"SOAK_STATE": options.pop("state")}, **options).restart_policy(policy)
        cluster.launch(exp)
        self.launched_at = time.time()
        for name, _, _ in PROCESSES:
            self.followers[name] = Follower(self.make_cluster, self.experiment, name)
            self.followers[name].start()

    def counter(self, name):
        """How many runs of ``name`` its counter file says were started (None: unreadable)."""
        try:
            with open(os.path.join(self.state_dir, f"{name}.runs")) as handle:
                return int(handle.read())
        except (OSError, ValueError):
            return None

    def counted_restarts(self, runs, state):
        """What describe_experiment should say after ``runs`` runs in the log, in ``state``."""
        return runs - 1

    def delete(self):
        self.make_cluster().delete(self.experiment)

    def find_leftovers(self):
        raise NotImplementedError


class LocalBackend(Backend):
    name = "local"
    backoff = HostBackoff(BACKOFF)

    def __init__(self, state_dir, home):
        super().__init__(state_dir)
        self.home = home
        self.experiment = f"soak-local-{uuid.uuid4().hex[:6]}"  # (other runs of this test on this machine)

    def make_cluster(self):
        from symphony import Cluster
        return Cluster.new("local", grace=2.0, restart_backoff=BACKOFF)

    def process_kwargs(self):
        return {"command": sys.executable, "state": self.state_dir}

    def find_leftovers(self):
        return host_leftovers(self.home, self.experiment) + \
            [f"process {pid} of run {self.run_ids}" for pid in experiment_pids(self.experiment, self.run_ids)]


class TmuxBackend(LocalBackend):
    name = "tmux"

    def __init__(self, state_dir, home, server_name):
        super().__init__(state_dir, home)
        self.server_name = server_name
        self.experiment = f"soak-tmux-{uuid.uuid4().hex[:6]}"

    def make_cluster(self):
        from symphony import Cluster
        return Cluster.new("tmux", server_name=self.server_name, grace=2.0, restart_backoff=BACKOFF)

    def find_leftovers(self):
        found = super().find_leftovers() + [f"tmux window {w}" for w in tmux_windows(self.server_name)]
        server = subprocess.run(["tmux", "-L", self.server_name, "list-sessions"], capture_output=True, text=True)
        if server.returncode == 0:
            found.append(f"tmux server {self.server_name!r} still runs: {server.stdout.strip()!r}")
        return found


class DockerBackend(Backend):
    name = "docker"
    state_in_container = "/tmp/soak"
    backoff = HostBackoff(BACKOFF)

    def __init__(self, state_dir, client):
        super().__init__(state_dir)
        self.client = client
        self.experiment = f"soak-{uuid.uuid4().hex[:8]}"

    def launch(self):
        from symphony.docker.tools import find_busybox, missing_busybox_reason
        if find_busybox() is None:  # the engine would restart the containers itself: not what is soaked
            raise RuntimeError(f"Symphony's restart runner cannot be used: {missing_busybox_reason()}")
        super().launch()

    def make_cluster(self):
        from dockerhelpers import docker_cluster
        return docker_cluster(restart_backoff=BACKOFF)

    def process_kwargs(self):
        from dockerhelpers import BASE_IMAGE
        return {"command": "python3", "state": self.state_in_container, "container_image": BASE_IMAGE}

    def counter(self, name):
        """Read from the container's /tmp (its writable layer survives restarts), running or not."""
        try:
            container = self.client.containers.get(f"{self.experiment}.{name}")
            stream, _ = container.get_archive(f"{self.state_in_container}/{name}.runs")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
                return int(archive.extractfile(archive.next()).read())
        except Exception:  # not there, unreadable: shown as unknown
            return None

    def find_leftovers(self):
        return docker_leftovers(self.client, self.experiment) + \
            [f"process {pid}" for pid in experiment_pids(self.experiment)]

    def remove_everything(self):
        from dockerhelpers import docker_cluster
        try:
            docker_cluster()._remove(self.experiment)
        except Exception:
            pass


def in_parallel(calls):
    """Run each ``(backend, function)`` in a thread of its own; a failure is recorded on the backend."""
    def guarded(backend, function):
        try:
            function()
        except Exception as exc:
            backend.failures.append(f"{function.__name__}: {type(exc).__name__}: {exc}")
    threads = [threading.Thread(target=guarded, args=call, daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# --- what the end looks like ------------------------------------------------------------------
class Snapshot:
    """The whole log of every process, read between two ``describe_experiment`` calls that agree with it.

    Reading 20 logs takes a while, during which processes keep restarting. A process whose
    two readings (before and after its log) agree on its state and restart count is judged
    exactly: the count must be what its log implies, once the run it counts has written its
    first line (a running process one run ahead of its log is read again until then). One that changed in between is read again
    (up to SETTLE_SECONDS); if it never holds still, its count must at least lie between the two
    readings and within one of what the log implies (the log and the count are not read at the
    same instant).
    """

    def __init__(self, backend):
        self.backend = backend
        self.logs, self.fetched, self.analyses, self.status = {}, {}, {}, {}
        self.counters = {}
        self.mismatches = {}
        self.unsettled = set()
        self.timings = []  # seconds per reading: (describe, logs, describe)

    def take(self):
        cluster = self.backend.make_cluster()
        pending = [name for name, _, _ in PROCESSES]
        deadline = time.monotonic() + SETTLE_SECONDS
        while pending:
            began = time.monotonic()
            before = {s.key: s for s in cluster.describe_experiment(self.backend.experiment)}
            described = time.monotonic()
            with ThreadPoolExecutor(max_workers=len(pending)) as pool:
                list(pool.map(self.read, pending))
            read = time.monotonic()
            after = {s.key: s for s in cluster.describe_experiment(self.backend.experiment)}
            self.timings.append((described - began, read - described, time.monotonic() - read))
            last_chance = time.monotonic() > deadline
            still = []
            for name in pending:
                first, second = before[name], after[name]
                self.status[name] = second
                runs = self.analyses[name].run_count
                if first.state == second.state and first.restarts == second.restarts:
                    wanted = self.backend.counted_restarts(runs, second.state)
                    if second.state == ProcessState.RUNNING and second.restarts == wanted + 1 and not last_chance:
                        # restarted, but the new run has not written its first line yet (a loaded
                        # machine can take seconds to start a Python program): read it again
                        still.append(name)
                        continue
                    self.mismatches.pop(name, None)
                    if second.restarts != wanted:
                        self.mismatches[name] = (f"describe_experiment says {second.restarts} restart(s) "
                                                 f"({second.state}); the log shows {runs} run(s), so {wanted} expected")
                    continue
                if not last_chance:
                    still.append(name)
                    continue
                self.unsettled.add(name)
                if not (first.restarts <= second.restarts and first.restarts - 1 <= runs - 1 <= second.restarts + 1):
                    self.mismatches[name] = (f"describe_experiment says {first.restarts} then {second.restarts} "
                                             f"restart(s) ({first.state} then {second.state}); the log, read in "
                                             f"between, shows {runs} run(s)")
            pending = still
            if pending:
                time.sleep(0.5)

    def read(self, name):
        """The whole log of ``name`` (through a cluster object of this thread's own), then its run counter."""
        self.fetched[name] = time.time()
        self.logs[name] = list(self.backend.make_cluster().get_log(self.backend.experiment, name))
        self.counters[name] = self.backend.counter(name)
        self.analyses[name] = analyse(name, POLICIES[name], self.logs[name], self.backend.backoff, self.fetched[name])


def judge(backend, snapshot):
    """Every problem found on ``backend`` (strings), and its figures for the table."""
    problems = list(backend.failures)
    figures = dict(runs=0, observed=0, expected=0, pending=0, lines=0, lost=0, duplicated=0, disorder=0,
                   f_lost=0, f_dup=0, f_disorder=0, f_early=0, mismatches=len(snapshot.mismatches),
                   worst=None, overrun=None, overruns=[], strict_late=0)
    for name, mismatch in snapshot.mismatches.items():
        problems.append(f"{name}: {mismatch}")
    for name, policy, mode in PROCESSES:
        result, status = snapshot.analyses[name], snapshot.status[name]
        figures["runs"] += result.run_count
        figures["observed"] += result.restarts_observed
        figures["expected"] += result.restarts_expected
        figures["pending"] += result.pending
        figures["lines"] += result.lines
        figures["lost"] += result.lost
        figures["duplicated"] += result.duplicated
        figures["disorder"] += result.out_of_order
        problems += [f"{name}: {problem}" for problem in result.problems]
        worst = result.worst_delay()
        if worst and (figures["worst"] is None or worst[1] > figures["worst"][1]):
            figures["worst"] = (name, *worst)
        figures["overruns"] += [delay - due for _, delay, due, _ in result.delays]
        figures["strict_late"] += sum(1 for _, delay, due, _ in result.delays if delay > due + soakwork.RESTART_MARGIN)
        overrun = result.worst_overrun()
        # overrun: (run, delay, backoff, allowed); figures["overrun"] has the process's name first
        if overrun and (figures["overrun"] is None
                        or overrun[1] - overrun[2] > figures["overrun"][2] - figures["overrun"][3]):
            figures["overrun"] = (name, *overrun)
        if result.run_count == 0:
            problems.append(f"{name}: nothing in its log")
            continue
        counted = snapshot.counters.get(name)
        if counted is not None and counted > result.run_count + 1:
            problems.append(f"{name}: {counted} runs started (its counter file) but the log shows {result.run_count}")
        if mode == "long" and (result.run_count != 1 or status.state != ProcessState.RUNNING):
            problems.append(f"{name}: never ends, yet the log shows {result.run_count} run(s) and it is {status.state}")
        if policy == "Never" and result.run_count != 1:
            problems.append(f"{name}: Never, yet it ran {result.run_count} times")
        end = result.last_end
        if end is not None and not result.pending and status.state in FINAL_STATES | {ProcessState.RUNNING}:
            _, exit_code, killed_by = end
            if not should_restart(policy, exit_code, killed_by):
                if killed_by and (status.state, status.signal) != (ProcessState.KILLED, killed_by):
                    problems.append(f"{name}: killed by {killed_by}, shown {status.state} ({status.signal})")
                if killed_by is None and (status.state, status.exit_code) != (ProcessState.EXITED, exit_code):
                    problems.append(f"{name}: exited {exit_code}, shown {status.state} (exit {status.exit_code})")
        # the follower, against the final log
        follower = backend.followers.get(name)
        if follower is None:
            continue
        lost, duplicated, disorder = follower_figures(snapshot.logs[name], list(follower.lines))
        figures["f_lost"] += lost
        figures["f_dup"] += duplicated
        figures["f_disorder"] += disorder
        if lost or duplicated or disorder:
            problems.append(f"{name}: get_log(follow=True) from the start missed {lost} of {len(snapshot.logs[name])} "
                            f"line(s), repeated {duplicated}, {disorder} out of order; it saw {len(follower.lines)}"
                            + (f" and its stream ended at {follower.ended_at:.3f}" if follower.ended_at
                               and follower.ended_at < backend.deleted_at else "")
                            + (f" ({follower.error})" if follower.error else ""))
        if follower.ended_at and follower.ended_at < backend.deleted_at and status.state not in FINAL_STATES:
            figures["f_early"] += 1
    if backend.leftovers:
        problems += [f"after delete: {item}" for item in backend.leftovers]
    return problems, figures


def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None


def seconds(value):
    return "-" if value is None else f"{value:.2f}"


# --- the test -----------------------------------------------------------------------------------
@pytest.mark.timeout(DURATION + 480)
def test_soak_on_every_backend_at_once(tmp_path, symphony_home, request, record_property):
    required = required_engines()
    backends, skipped = [LocalBackend(str(tmp_path / "state-local"), str(symphony_home))], []
    server_name = f"symph-soak-{uuid.uuid4().hex[:8]}"
    if shutil.which("tmux"):
        backends.append(TmuxBackend(str(tmp_path / "state-tmux"), str(symphony_home), server_name))
    elif "tmux" in required:
        pytest.fail("tmux is required here (SYMPHONY_REQUIRE_ENGINES) but is not installed")
    else:
        skipped.append("tmux (not installed)")
    from dockerhelpers import engine
    client, why_not = engine()
    if "docker" not in SOAK_BACKENDS:
        skipped.append("docker (not in SYMPHONY_SOAK_BACKENDS)")
    elif client is not None:
        backends.append(DockerBackend(str(tmp_path / "state-docker"), client))
    elif "docker" in required:
        pytest.fail(f"Docker is required here (SYMPHONY_REQUIRE_ENGINES) but is not usable: {why_not}")
    else:
        skipped.append(f"docker ({why_not})")

    core_count = soakwork.cores()
    target = 4 * core_count
    hogs, sampler = CpuHogs(), LoadSampler()
    try:
        warm_up = hogs.warm_up(target, permanent=4 * core_count, extra=12 * core_count, timeout=WARM_UP_SECONDS)
        sampler.start()
        in_parallel([(backend, backend.launch) for backend in backends])
        running = [backend for backend in backends if backend.launched_at is not None]
        if running:
            end = max(backend.launched_at for backend in running) + DURATION
            while time.time() < end:
                time.sleep(min(5.0, max(0.0, end - time.time())))
                if hogs.alive() != 4 * core_count:
                    pytest.fail(f"a CPU hog died: {hogs.alive()} of {4 * core_count} left")
        run_ended = time.time()
        snapshots = {backend.name: Snapshot(backend) for backend in running}
        in_parallel([(backend, snapshots[backend.name].take) for backend in running])
        catch_up_deadline = time.monotonic() + CATCH_UP_SECONDS
        for backend in running:
            snapshot = snapshots[backend.name]
            for name, follower in backend.followers.items():
                wanted = set(snapshot.logs.get(name, []))
                while time.monotonic() < catch_up_deadline and follower.ended_at is None \
                        and not wanted <= set(follower.lines):
                    time.sleep(0.2)
        for backend in running:
            if isinstance(backend, LocalBackend):
                backend.run_ids = run_ids(symphony_home, backend.experiment)
        for backend in backends:
            backend.deleted_at = time.time()
        in_parallel([(backend, backend.delete) for backend in running])
        for backend in running:
            deadline = time.monotonic() + 15
            while (leftovers := backend.find_leftovers()) and time.monotonic() < deadline:
                time.sleep(0.5)
            backend.leftovers = leftovers
        samples = sampler.finish()
    finally:
        hogs.stop()
        sampler.finish()
        for backend in backends:
            if isinstance(backend, DockerBackend):
                backend.remove_everything()
        if any(isinstance(backend, TmuxBackend) for backend in backends):
            stop_tmux_server(server_name)
    for backend in running:
        for follower in backend.followers.values():
            follower.join(timeout=10)

    during = [load for when, load in samples if when <= run_ended]
    problems, text = summarize(backends, running, snapshots, skipped, core_count, warm_up, during)
    request.config.stash.setdefault(soakwork.SUMMARIES, []).append(("soak summary", text))
    record_property("soak_summary", text)
    (tmp_path / "soak-summary.txt").write_text(text + "\n\n" + "\n".join(problems) + "\n")
    if max(during, default=0.0) < target:
        problems.append(f"the 1-minute load never reached {target} during the run "
                        f"(at most {max(during, default=0):.2f})")
    late = Counter(problem.split(":")[0] for problem in problems if " restarted after " in problem)
    assert not problems, (text + f"\n\n{len(problems)} problem(s)"
                          + "".join(f"; {backend}: {count} restart(s) later than allowed"
                                    for backend, count in late.items())
                          + ":\n" + "\n".join(problems[:80]))


def summarize(backends, running, snapshots, skipped, core_count, warm_up, loads):
    """(every problem found, the summary: the load, the allowance, the table of figures per backend)."""
    rows, problems = [], []
    for backend in backends:
        if backend not in running:
            problems += [f"{backend.name}: {failure}" for failure in backend.failures]
            rows.append([backend.name, "launch failed"] + [""] * 15)
            continue
        found, figures = judge(backend, snapshots[backend.name])
        problems += [f"{backend.name}: {problem}" for problem in found]
        worst, overrun = figures["worst"], figures["overrun"]
        rows.append([
            backend.name, figures["runs"], figures["observed"], figures["expected"], figures["pending"],
            f"{seconds(worst[2])} ({worst[0]})" if worst else "-",
            f"{seconds(overrun[2] - overrun[3])} ({overrun[0]}, backoff {overrun[3]:g})" if overrun else "-",
            seconds(median(figures["overruns"])), figures["strict_late"],
            figures["lines"], figures["lost"], figures["duplicated"], figures["disorder"],
            f"{figures['f_lost']}/{figures['f_dup']}/{figures['f_disorder']}", figures["f_early"],
            figures["mismatches"], len(backend.leftovers or [])])
    header = ["backend", "runs", "restarts seen", "expected", "pending", "worst delay s", "worst over backoff s",
              "median over backoff s", "later than backoff + 2 s", "lines", "lost", "dup", "disorder", "follow lost/dup/disorder",
              "follow ended early", "describe mismatches", "leftovers"]
    lines = [f"{DURATION:g} s soak, {len(PROCESSES)} processes per backend; {core_count} core(s), {4 * core_count} "
             f"CPU hogs (warm-up {warm_up:.0f} s); 1-minute load during the run: min {min(loads, default=0):.2f}, "
             f"max {max(loads, default=0):.2f} (target {4 * core_count})",
             f"restart allowance: backoff + {soakwork.RESTART_MARGIN:g} s; every backend "
             f"{HostBackoff(BACKOFF).describe()}",
             soakwork.table(header, rows)]
    for backend in running:
        snapshot = snapshots[backend.name]
        readings = ", ".join(f"{a:.1f}+{b:.1f}+{c:.1f} s" for a, b, c in snapshot.timings)
        lines.append(f"{backend.name}: reading the end took {readings} (describe + every log + describe); "
                     f"never held still: {', '.join(sorted(snapshot.unsettled)) or 'none'}")
    if skipped:
        lines.append(f"not run: {', '.join(skipped)}")
    return problems, "\n".join(lines)
