"""The local supervisor killed (``kill -9``) while its processes keep ending and restarting.

What the local backend promises (symphony/local/supervisor.py): if the supervisor dies, its
parent, the guardian, records how the orphaned processes end and starts a new supervisor that
adopts them, with nobody running the CLI; a query (``symphony p``, ``symphony logs``,
``describe_experiment``, ``get_log``) does the same if the guardian died too. The adopter reports
real exit codes and signals and restarts by policy. Checked here, three times in a row (each
followed by a different query, which must find the experiment supervised), each kill landing
while a process waits for its restart:

* no process lost (none reported ``lost``; every log's runs and lines complete), duplicated
  (never two runs of one process at once; one live instance per process at every look) or
  wrongly killed (the long-running processes keep their pid, and are not restarted);
* processes that ended while nobody supervised report their real end (exit code, signal) and
  are restarted or not by their policy, no more and no less (Never ran once, work that
  succeeded under OnFailure is not re-run);
* restarts continue after each adoption, with or without a query; ``describe_experiment``'s
  restart counts match the logs;
* ``delete`` leaves nothing: no process of the run (the guardians of the killed supervisors
  included), no state row, no log directory.

Two narrower windows are hit on purpose (the test holds the state database's write lock, so the
supervisor waits right after it started or reaped a process, and is killed there): killed between
starting a restart and recording it, the adopter must not start the process a second time;
killed between reaping a process and recording its end, the adopter must still report the end
the process really had, and restart it (or not) by that end.

A ``logs --follow`` reader started before the kill must keep following the processes that keep
running.

Every process runs tests/soak/soakwork.py's WORKLOAD (numbered runs and lines, start and end
times in the log), so the logs say what happened.
"""

import importlib.util
import json
import os
import signal
import sys
import time
import uuid

import psutil
import pytest

from symphony import Cluster
from symphony.cli.main import main as symphony
from symphony.host.restarts import should_restart
from symphony.state import StateStore
from symphony.status import ProcessState

from hardeninghelpers import experiment_pids, scan, wait_for
from waiting import process_gone

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location(
    "soakwork_for_faults", os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "soak", "soakwork.py"))
soakwork = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soakwork)

BACKOFF = 0.5
#: how long nobody looks at the experiment after each kill
UNSUPERVISED_SECONDS = 3.0

#: (process, restart policy, WORKLOAD mode); see tests/soak/soakwork.py
PROCESSES = [
    ("cycle-fail", "OnFailure", "0.5-1:x1"),
    ("cycle-kill", "OnFailure", "0.5-1:sKILL"),
    ("cycle-always", "Always", "0.5-1:x0,sTERM"),
    ("once-ok", "OnFailure", "2.5-2.5:x0"),     # succeeds while nobody supervises: never re-run
    ("never-fail", "Never", "2.5-2.5:x3"),
    ("never-term", "Never", "3-3:sTERM"),
    ("long", "OnFailure", "long"),
    ("long-always", "Always", "long"),
]
CYCLING = [name for name, _, mode in PROCESSES if name.startswith("cycle-")]
LONG = [name for name, _, mode in PROCESSES if mode == "long"]
POLICIES = {name: policy for name, policy, _ in PROCESSES}


class NoDeadline:
    """A backoff model with no deadline: how fast restarts come back after a kill is not judged
    here (nothing restarts while nobody supervises), only whether they come."""

    stable_seconds = 10.0
    initial = 0

    def after(self, state, stable):
        return 0

    def delay(self, state):
        return 3600.0

    def engine_time(self, ended, until):
        return 0.0


def unique(prefix):
    """A fresh experiment name: the processes of other runs of these tests on this machine carry
    the same SYMPH_EXPERIMENT otherwise, and the scans would count them."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def cli(capsys, *argv):
    capsys.readouterr()
    code = symphony(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def launch(cluster, name, state_dir):
    exp = cluster.new_experiment(name)
    for process, policy, mode in PROCESSES:
        exp.new_process(process, command=sys.executable, args=["-c", soakwork.WORKLOAD, process, mode],
                        env={"SOAK_STATE": str(state_dir)}).restart_policy(policy)
    cluster.launch(exp)
    return cluster.store.get_experiment("local", name)


def rows(cluster, name):
    """The state rows, read without a query that would adopt the experiment."""
    return {row["key"]: row for row in cluster.store.processes("local", name)}


def log_lines(cluster, name):
    """Every process's log, read from its file (``get_log`` would adopt the experiment)."""
    logs = {}
    for key, row in rows(cluster, name).items():
        with open(row["log_path"]) as handle:
            logs[key] = handle.read().splitlines()
    return logs


def analyses(cluster, name, policies=POLICIES):
    now = time.time()
    return {key: soakwork.analyse(key, policies[key], lines, NoDeadline(), now)
            for key, lines in log_lines(cluster, name).items()}


def instances(name, key):
    """Live processes running ``key`` (the programs themselves: exec form, no wrapper shell)."""
    return scan(SYMPH_EXPERIMENT=name, SYMPH_PROCESS=key)


def runs_started_after(cluster, name, moment):
    """Processes with a run that started after ``moment`` (per their own logs)."""
    return {key for key, result in analyses(cluster, name).items()
            if any(run.started and run.started > moment for run in result.runs.values())}


def kill_while_restarting(cluster, name):
    """SIGKILL the supervisor at a moment one of its processes waits for its restart; its pid."""
    supervisor = cluster.store.get_experiment("local", name)["supervisor_pid"]
    wait_for(lambda: any(row["status"] == ProcessState.RESTARTING for row in rows(cluster, name).values()),
             timeout=60, interval=0.01)
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: process_gone(supervisor))
    return supervisor


def check_one_instance_each(name):
    for key, _, _ in PROCESSES:
        live = instances(name, key)
        assert len(live) <= 1, f"{key} runs {len(live)} times at once: {live}"


def check_watched(name, run_id):
    """Every live process is the child of a process of its run (a guardian, or a supervisor), which
    will see how it ends: none was left to init, whose reaping nobody records."""
    ours = set(experiment_pids(name, [run_id]))
    for key, _, _ in PROCESSES:
        for pid in instances(name, key):
            try:
                parent = psutil.Process(pid).ppid()
            except psutil.NoSuchProcess:
                continue
            assert parent in ours, f"{key} (pid {pid}) is the child of {parent}, not of a process of its run"


def check_logs(cluster, name):
    """Lines complete and unique; runs never overlapping; each restart (or its absence) by policy."""
    problems = []
    for key, result in analyses(cluster, name).items():
        problems += [f"{key}: {problem}" for problem in result.problems]
        runs = [result.runs[number] for number in sorted(result.runs)]
        for earlier, later in zip(runs, runs[1:]):
            if earlier.end is not None and later.started is not None and later.started < earlier.end[0]:
                problems.append(f"{key}: run {later.number} started before run {earlier.number} ended: duplicated")
    assert not problems, "\n".join(problems)


def check_counts(cluster, name):
    """describe_experiment's restarts against the logs, read between two agreeing describes."""
    def agree():
        before = {s.key: s for s in cluster.describe_experiment(name)}
        logged = analyses(cluster, name)
        after = {s.key: s for s in cluster.describe_experiment(name)}
        return all(before[key].restarts == after[key].restarts == logged[key].run_count - 1 for key in logged)
    wait_for(agree, timeout=20, interval=0.2)


@pytest.mark.timeout(240)
def test_supervisor_killed_while_processes_restart_is_adopted_by_the_next_query(capsys, tmp_path):
    name = unique("supervised")
    cluster = Cluster.new("local", grace=1.0, restart_backoff=BACKOFF)
    experiment = launch(cluster, name, tmp_path / "state")
    run_id = experiment["run_id"]
    wait_for(lambda: all(row["pid"] for key, row in rows(cluster, name).items() if key in LONG))
    long_pids = {key: rows(cluster, name)[key]["pid"] for key in LONG}
    killed, guardians = [], []
    adopt = [lambda: cli(capsys, "p", "-b", "local", name),
             lambda: cluster.describe_experiment(name),
             lambda: cli(capsys, "logs", "-b", "local", "long", name)]
    try:
        for round_number, query in enumerate(adopt, start=1):
            supervisor = cluster.store.get_experiment("local", name)["supervisor_pid"]
            guardians.append(psutil.Process(supervisor).ppid())
            killed.append(kill_while_restarting(cluster, name))
            time.sleep(UNSUPERVISED_SECONDS)  # nobody asks
            check_one_instance_each(name)
            check_watched(name, run_id)
            assert {key: rows(cluster, name)[key]["pid"] for key in LONG} == long_pids
            assert all(psutil.pid_exists(pid) for pid in long_pids.values()), "a long-running process was killed"

            query()  # finds it supervised: adopted by the guardian, or by this query
            adopted_at = time.time()
            row = cluster.store.get_experiment("local", name)
            assert row["adoptions"] == round_number
            assert row["supervisor_pid"] not in killed and psutil.pid_exists(row["supervisor_pid"])
            statuses = {s.key: s for s in cluster.describe_experiment(name)}
            assert not [key for key, s in statuses.items() if s.state == ProcessState.LOST], statuses
            for key in LONG:
                assert (statuses[key].state, statuses[key].pid, statuses[key].restarts) == \
                    (ProcessState.RUNNING, long_pids[key], 0), f"{key} was not left alone"
            # restarts go on: every cycling process runs again after the adoption
            wait_for(lambda: set(CYCLING) <= runs_started_after(cluster, name, adopted_at), timeout=30)
            check_one_instance_each(name)
            check_logs(cluster, name)

        # what ended while nobody supervised reports its real end, and ran as often as its policy says
        check_counts(cluster, name)
        statuses = {s.key: s for s in cluster.describe_experiment(name)}
        logged = analyses(cluster, name)
        for key, wanted in [("once-ok", (ProcessState.EXITED, 0, None)), ("never-fail", (ProcessState.EXITED, 3, None)),
                            ("never-term", (ProcessState.KILLED, None, "SIGTERM"))]:
            status = statuses[key]
            assert (status.state, status.exit_code, status.signal, status.restarts) == (*wanted, 0), key
            assert logged[key].run_count == 1, f"{key} ran {logged[key].run_count} times"
        for key in LONG:
            assert (statuses[key].state, statuses[key].pid, statuses[key].restarts, logged[key].run_count) == \
                (ProcessState.RUNNING, long_pids[key], 0, 1), f"{key} was not left alone"
        for key in CYCLING:
            ends = [run.end for run in logged[key].runs.values() if run.end]
            assert all(should_restart(POLICIES[key], code, sig) for _, code, sig in ends)
            assert logged[key].run_count >= 4, f"{key} ran {logged[key].run_count} times in three adoptions"
        check_logs(cluster, name)
    finally:
        cli(capsys, "delete", "-f", "-b", "local", name)
    leftovers = wait_for_nothing_of(name, run_id)
    assert leftovers == [], f"delete left {leftovers} (guardians of the killed supervisors: {guardians})"
    assert cluster.store.get_experiment("local", name) is None and rows(cluster, name) == {}
    assert not os.path.exists(os.path.dirname(experiment_log(experiment)))


def experiment_log(experiment):
    return json.loads(experiment["plan"])["processes"][0]["log_path"]


def wait_for_nothing_of(name, run_id, timeout=15.0):
    deadline = time.monotonic() + timeout
    while (left := experiment_pids(name, [run_id])) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [f"{pid} {' '.join(psutil.Process(pid).cmdline())[:80]}" for pid in left if psutil.pid_exists(pid)]


@pytest.mark.timeout(120)
def test_a_log_follower_keeps_following_across_the_supervisor_kill(tmp_path):
    """``get_log(follow=True)`` (``symphony logs -f``) started before the kill sees every line of a
    process that keeps running, after the kill and the adoption too."""
    name = unique("followed")
    cluster = Cluster.new("local", grace=1.0, restart_backoff=BACKOFF)
    experiment = launch(cluster, name, tmp_path / "state")
    follower = soakwork.Follower(lambda: Cluster.new("local", grace=1.0, restart_backoff=BACKOFF), name, "long")
    follower.start()
    try:
        wait_for(lambda: len(follower.lines) >= 2)
        kill_while_restarting(cluster, name)
        killed_at = time.time()
        time.sleep(UNSUPERVISED_SECONDS)
        cluster.describe_experiment(name)  # adopted by the guardian, or by this query
        time.sleep(2.0)
        stream_ended = follower.ended_at
        lines = log_lines(cluster, name)["long"]
        wait_for(lambda: follower.ended_at is not None or set(lines) <= set(follower.lines), timeout=10)
        assert stream_ended is None, (f"the follower's stream ended {stream_ended - killed_at:+.2f} s after the "
                                      f"supervisor was killed, while the process still runs (it saw "
                                      f"{len(follower.lines)} of {len(lines)} lines)")
        assert soakwork.follower_figures(lines, list(follower.lines)) == (0, 0, 0)
    finally:
        cluster.delete(name)
    assert wait_for_nothing_of(name, experiment["run_id"]) == []


@pytest.mark.timeout(120)
def test_restarts_continue_without_any_query(tmp_path):
    """After a kill -9 of the supervisor, with nobody running the CLI or the API, restarts go on."""
    name = unique("unwatched")
    cluster = Cluster.new("local", grace=1.0, restart_backoff=BACKOFF)
    experiment = launch(cluster, name, tmp_path / "state")
    try:
        kill_while_restarting(cluster, name)
        killed_at = time.time()
        time.sleep(10.0)  # several backoffs, nobody asks
        restarted = runs_started_after(cluster, name, killed_at)
        assert set(CYCLING) <= restarted, (f"10 s after the supervisor was killed, with no query, only "
                                           f"{sorted(restarted)} of {CYCLING} ran again")
    finally:
        cluster.delete(name)
        assert wait_for_nothing_of(name, experiment["run_id"]) == []


# --- the narrow windows -----------------------------------------------------------------------
def children(pid):
    while True:
        try:
            return {child.pid for child in psutil.Process(pid).children()}
        except psutil.NoSuchProcess as exc:
            if exc.pid == pid:
                return set()  # the supervisor itself is gone
            # a child ended while psutil looked at it: look again


def environment_key(pid):
    """SYMPH_PROCESS of ``pid`` once it runs its program (before its exec it still has its parent's)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            entries = handle.read().split(b"\0")
    except OSError:
        return None
    return next((entry.split(b"=", 1)[1].decode() for entry in entries if entry.startswith(b"SYMPH_PROCESS=")), None)


def kill_in_window(cluster, name, window, timeout=30.0):
    """SIGKILL the supervisor in ``window``: ``'start'``, after it started a process (a restart) and
    before its row records it; ``'end'``, after it reaped a process and before its row records the end.

    Landed every time, not by chance: the database's write lock is held (as any other writer of
    the state may hold it) from before the change until the kill, so the supervisor, having
    started or reaped the process, waits for the lock right there. Returns ``(key, pid)`` of the
    process caught in the window.
    """
    supervisor = cluster.store.get_experiment("local", name)["supervisor_pid"]
    lock = StateStore()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if window == "start":  # a restart is due soon: its backoff has begun
                wait_for(lambda: any(r["status"] == ProcessState.RESTARTING for r in rows(cluster, name).values()),
                         timeout=timeout, interval=0.005)
            with lock.transaction():
                recorded = {row["key"]: row for row in lock.processes("local", name)}
                running = {row["pid"]: key for key, row in recorded.items() if row["status"] == ProcessState.RUNNING}
                due = {key for key, row in recorded.items() if row["status"] == ProcessState.RESTARTING}
                if window == "start" and not due:
                    continue  # restarted (and recorded) before the lock was taken: wait for the next one
                known = children(supervisor)

                def changed():
                    now = children(supervisor)
                    if window == "start":
                        return next(((environment_key(pid), pid) for pid in now - set(running)
                                     if environment_key(pid) in due), None)
                    return next(((running[pid], pid) for pid in known - now if pid in running), None)
                caught = wait_for(changed, timeout=max(0.1, deadline - time.monotonic()), interval=0.005)
                os.kill(supervisor, signal.SIGKILL)
                wait_for(lambda: process_gone(supervisor))
                return caught
    finally:
        lock.close()
    raise AssertionError(f"no {window} of a process to catch within {timeout} s")


def staggered(endings):
    """process -> (policy, ending) of :func:`launch_staggered`'s ten processes."""
    return {f"p{i}": endings[i % len(endings)] for i in range(10)}


def launch_staggered(cluster, name, state_dir, endings):
    """Ten processes (``endings[i % len]`` as ``(policy, ending)``), their first runs ending 0.4 s apart."""
    exp = cluster.new_experiment(name)
    for i, (policy, ending) in enumerate(staggered(endings).values()):
        length = 0.6 + 0.4 * i
        exp.new_process(f"p{i}", command=sys.executable,
                        args=["-c", soakwork.WORKLOAD, f"p{i}", f"{length}-{length}:{ending}"],
                        env={"SOAK_STATE": str(state_dir)}).restart_policy(policy)
    cluster.launch(exp)
    return cluster.store.get_experiment("local", name)


@pytest.mark.timeout(120)
def test_killed_between_a_restart_and_its_record_the_process_runs_once(tmp_path):
    """The adopter must not start a second instance of a process the dead supervisor had just restarted."""
    name = unique("restarted")
    cluster = Cluster.new("local", grace=1.0, restart_backoff=0.2)
    # run 1 fails, run 2 goes on for good: whatever runs after the adoption shows
    endings = [("OnFailure", "x1,w")]
    policies = {key: policy for key, (policy, _) in staggered(endings).items()}
    experiment = launch_staggered(cluster, name, tmp_path / "state", endings)
    try:
        key, orphan = kill_in_window(cluster, name, "start")
        cluster.describe_experiment(name)  # adopted by the guardian, or by this query
        time.sleep(3.0)
        live = instances(name, key)
        logged = analyses(cluster, name, policies)[key]
        status = {s.key: s for s in cluster.describe_experiment(name)}[key]
        assert live == [orphan], (f"{key}, restarted as pid {orphan} by the killed supervisor just before it died, "
                                  f"now runs as {live}: {logged.run_count} runs in its log, describe_experiment says "
                                  f"{status.restarts} restart(s) ({status.state}, pid {status.pid})")
        assert (status.state, status.pid, status.restarts) == (ProcessState.RUNNING, orphan, logged.run_count - 1)
    finally:
        cluster.delete(name)
    assert wait_for_nothing_of(name, experiment["run_id"]) == []


@pytest.mark.timeout(120)
def test_killed_between_an_end_and_its_record_the_end_is_still_known(tmp_path):
    """The adopter must report the real end of a process the dead supervisor had reaped but not
    recorded, and restart it only if that end calls for it (never work that succeeded)."""
    name = unique("reaped")
    cluster = Cluster.new("local", grace=1.0, restart_backoff=0.2)
    endings = [("OnFailure", "x0"), ("Never", "x3")]
    policies = {key: policy for key, (policy, _) in staggered(endings).items()}
    experiment = launch_staggered(cluster, name, tmp_path / "state", endings)
    try:
        key, _ = kill_in_window(cluster, name, "end")
        cluster.describe_experiment(name)  # adopted by the guardian, or by this query
        time.sleep(2.0)
        logged = analyses(cluster, name, policies)[key]
        status = {s.key: s for s in cluster.describe_experiment(name)}[key]
        _, exit_code, _ = logged.runs[1].end
        assert (status.state, status.exit_code, status.restarts, logged.run_count) == \
            (ProcessState.EXITED, exit_code, 0, 1), (
                f"{key} ({policies[key]}) exited {exit_code} just before its supervisor was killed; after the "
                f"adoption it is {status.state} (exit {status.exit_code}, {status.restarts} restart(s)) and its log "
                f"shows {logged.run_count} run(s)")
    finally:
        cluster.delete(name)
    assert wait_for_nothing_of(name, experiment["run_id"]) == []
