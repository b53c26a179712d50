"""How a process ended stays known after its supervisor is killed (``kill -9``) and a new one adopts it.

The adopting supervisor is not the parent of the processes it takes over, so it cannot
wait for them; without the real exit status, work that succeeded was re-run under
``OnFailure`` and a process killed by a signal showed as a plain exit. Everything here is
real: real processes, the real supervisor daemon, real signals.
"""

import os
import signal
import stat
import subprocess

import psutil
import pytest

from symphony.host.processes import find_run_processes, start_ticks
from symphony.state import StateStore
from symphony.status import ProcessState
from waiting import process_gone, wait_for

pytestmark = pytest.mark.slow

def status(cluster, name, key):
    return next(s for s in cluster.describe_experiment(name) if s.key == key)


def row(cluster, name, key):
    """The process's state row, read without a query that would re-adopt the experiment."""
    return next(r for r in cluster.store.processes("local", name) if r["key"] == key)


def wait_for_file(path):
    return f"while [ ! -e {path} ]; do sleep 0.05; done"


def launch(cluster, name, tmp_path):
    """Three processes: one that succeeds, one that fails its first run only, one that waits.

    The first two print ``start`` on each run, so the log says how often they ran, and
    end only when the test opens their gate (``open_gate(tmp_path, name, run)``, run 1 or
    2), so nothing depends on how fast this machine is.
    """
    first, second, marker = (tmp_path / f"{name}.{what}" for what in ("gate-1", "gate-2", "failed-once"))
    exp = cluster.new_experiment(name)
    exp.new_process("succeeds", cmds=["echo start", wait_for_file(first), "exit 0"]).restart_policy("OnFailure")
    exp.new_process("fails-once", cmds=["echo start", wait_for_file(first),
                                        f"[ -e {marker} ] || {{ touch {marker}; exit 3; }}",
                                        wait_for_file(second), "exit 0"]).restart_policy("OnFailure")
    exp.new_process("waits", "sleep 300")
    cluster.launch(exp)
    return cluster.store.get_experiment("local", name)


def open_gate(tmp_path, name, run):
    (tmp_path / f"{name}.gate-{run}").touch()


def kill_supervisor(pid):
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: process_gone(pid))


def explain(cluster, name):
    """The rows and the supervisor's log, for a wait that timed out."""
    rows = [{k: r[k] for k in ("key", "status", "pid", "start_ticks", "exit_code", "signal", "restarts")}
            for r in cluster.store.processes("local", name)]
    try:
        with open(os.path.join(cluster._log_dir(name), "supervisor.log")) as log:
            said = log.read()
    except OSError as exc:
        said = str(exc)
    return f"experiment: {dict(cluster.store.get_experiment('local', name, brief=True))}\nrows: {rows}\nsupervisor.log:\n{said}"


def starts_logged(cluster, name, key):
    return list(cluster.get_log(name, key)).count("start")


def assert_real_endings(cluster, name):
    """What the user must see once every process ended, whoever supervised them."""
    wait_for(lambda: status(cluster, name, "succeeds").state == ProcessState.EXITED, timeout=30)
    wait_for(lambda: status(cluster, name, "fails-once").state == ProcessState.EXITED, timeout=30)
    # the killed one is adopted: its end comes from its guardian's record, which a loaded machine may write later
    wait_for(lambda: status(cluster, name, "waits").state != ProcessState.RUNNING, timeout=30)
    succeeds, fails_once, waits = (status(cluster, name, key) for key in ("succeeds", "fails-once", "waits"))
    assert (succeeds.exit_code, succeeds.restarts) == (0, 0), "work that succeeded is not re-run"
    assert starts_logged(cluster, name, "succeeds") == 1
    assert (fails_once.exit_code, fails_once.restarts) == (0, 1), "exit 3 restarted it once; its second run exits 0"
    assert starts_logged(cluster, name, "fails-once") == 2
    assert (waits.state, waits.signal, waits.exit_code, waits.restarts) == (ProcessState.KILLED, "SIGKILL", None, 0)


def test_processes_ending_after_the_readoption_report_their_real_status(local_cluster, tmp_path):
    experiment = launch(local_cluster, "adopted", tmp_path)
    kill_supervisor(experiment["supervisor_pid"])
    # the guardian starts a new supervisor, which adopts (or this query does, if it looks first)
    waits = status(local_cluster, "adopted", "waits")
    assert waits.state == ProcessState.RUNNING and psutil.pid_exists(waits.pid)
    wait_for(lambda: local_cluster.store.get_experiment("local", "adopted")["adoptions"] == 1)
    assert status(local_cluster, "adopted", "succeeds").state == ProcessState.RUNNING, "adopted while it still runs"
    open_gate(tmp_path, "adopted", 1)
    restarted = wait_for(lambda: (s := status(local_cluster, "adopted", "fails-once")).restarts == 1
                         and s.state == ProcessState.RUNNING and s, timeout=30)
    assert restarted.detail == "", "started afresh by the new supervisor, so not marked as adopted"
    assert status(local_cluster, "adopted", "waits").detail == "re-adopted after its supervisor died (1×)"
    open_gate(tmp_path, "adopted", 2)
    os.kill(waits.pid, signal.SIGKILL)
    assert_real_endings(local_cluster, "adopted")
    local_cluster.delete("adopted")
    assert find_run_processes(experiment["run_id"]) == []


def test_processes_ending_while_nobody_supervises_report_their_real_status(local_cluster, tmp_path):
    experiment = launch(local_cluster, "unwatched", tmp_path)
    kill_supervisor(experiment["supervisor_pid"])
    os.kill(row(local_cluster, "unwatched", "waits")["pid"], signal.SIGKILL)
    pids = [row(local_cluster, "unwatched", key)["pid"] for key in ("succeeds", "fails-once")]
    open_gate(tmp_path, "unwatched", 1)
    open_gate(tmp_path, "unwatched", 2)
    wait_for(lambda: not any(psutil.pid_exists(pid) for pid in pids), timeout=20)
    # nobody queries: the guardian's replacement supervisor records the ends and restarts by policy
    wait_for(lambda: [row(local_cluster, "unwatched", key)["status"] for key in ("succeeds", "fails-once")]
             == ["exited", "exited"], timeout=30, explain=lambda: explain(local_cluster, "unwatched"))
    assert_real_endings(local_cluster, "unwatched")
    exits = os.path.join(os.path.dirname(row(local_cluster, "unwatched", "succeeds")["log_path"]), "exits")
    assert stat.S_IMODE(os.stat(exits).st_mode) == 0o700, "the guardian's records are private"
    local_cluster.delete("unwatched")
    assert find_run_processes(experiment["run_id"]) == []


def test_an_ending_nobody_could_observe_is_reported_as_lost_not_as_an_exit(local_cluster, tmp_path):
    """Only if the supervisor's parent dies with it is the status truly gone: say so."""
    experiment = launch(local_cluster, "lost", tmp_path)
    guardian = psutil.Process(experiment["supervisor_pid"]).ppid()
    # the supervisor's parent is of the run (it carries the run's marker once it is an interpreter of its
    # own, which a guardian forked out of the launcher becomes a moment after the start)
    wait_for(lambda: find_run_processes(experiment["run_id"]).count(guardian) == 1, timeout=10)
    os.kill(guardian, signal.SIGKILL)
    kill_supervisor(experiment["supervisor_pid"])
    waits = status(local_cluster, "lost", "waits")
    os.kill(waits.pid, signal.SIGKILL)
    wait_for(lambda: status(local_cluster, "lost", "waits").state == ProcessState.LOST)
    waits = status(local_cluster, "lost", "waits")
    assert (waits.exit_code, waits.signal, waits.pid) == (None, None, None)
    local_cluster.delete("lost")
    assert find_run_processes(experiment["run_id"]) == []


def test_a_process_that_cleared_its_environment_is_still_recognised_and_stopped(local_cluster):
    """Found by its recorded pid and start ticks when its run marker is gone: after re-adoption
    it is not reported lost nor started twice, and delete stops it."""
    exp = local_cluster.new_experiment("scrubbed")
    exp.new_process("clean", cmds=["exec env -i sleep 300"]).restart_policy("OnFailure")
    local_cluster.launch(exp)
    experiment = local_cluster.store.get_experiment("local", "scrubbed")
    pid = wait_for(lambda: (r := row(local_cluster, "scrubbed", "clean"))["pid"]
                   and psutil.Process(r["pid"]).name() == "sleep" and r["pid"])
    assert pid not in find_run_processes(experiment["run_id"]), "its environment no longer carries the run id"
    kill_supervisor(experiment["supervisor_pid"])
    adopted = status(local_cluster, "scrubbed", "clean")
    assert (adopted.state, adopted.pid, adopted.restarts) == (ProcessState.RUNNING, pid, 0)
    os.kill(pid, signal.SIGTERM)
    again = wait_for(lambda: (s := status(local_cluster, "scrubbed", "clean")).restarts == 1
                     and s.state == ProcessState.RUNNING and psutil.Process(s.pid).name() == "sleep" and s)
    assert again.pid != pid
    local_cluster.delete("scrubbed")
    wait_for(lambda: process_gone(again.pid))


def test_a_process_that_reused_a_recorded_pid_is_neither_adopted_nor_killed(local_cluster):
    """Another program given the recorded pid (the kernel reuses pids) started at other ticks: the
    adopting supervisor reports the recorded process lost instead of taking that one over, and
    delete leaves it running, even though it started within moments of the recorded one."""
    exp = local_cluster.new_experiment("reused")
    exp.new_process("clean", cmds=["exec env -i sleep 300"])
    local_cluster.launch(exp)
    experiment = local_cluster.store.get_experiment("local", "reused")
    recorded = wait_for(lambda: (r := row(local_cluster, "reused", "clean"))["pid"]
                        and psutil.Process(r["pid"]).name() == "sleep" and r)
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)  # no run marker: not of the run
    while start_ticks(stranger.pid) == recorded["start_ticks"]:  # started in the same clock tick: one later
        stranger.kill()
        stranger.wait()
        stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        assert recorded["start_ticks"] == start_ticks(recorded["pid"]) != start_ticks(stranger.pid)
        lock = StateStore()  # holding the state's write lock keeps the guardian from replacing the supervisor
        try:
            with lock.transaction() as db:
                kill_supervisor(experiment["supervisor_pid"])
                os.kill(recorded["pid"], signal.SIGKILL)
                wait_for(lambda: process_gone(recorded["pid"]))
                # the recorded process ended and the stranger now holds its pid: its row, as the kernel would leave it
                db.execute("UPDATE processes SET pid = ? WHERE backend = 'local' AND experiment = 'reused'",
                           (stranger.pid,))
        finally:
            lock.close()
        wait_for(lambda: status(local_cluster, "reused", "clean").state == ProcessState.LOST)
        assert stranger.poll() is None and status(local_cluster, "reused", "clean").pid is None
        local_cluster.delete("reused")
        assert stranger.poll() is None, "delete stopped a process that was never the experiment's"
    finally:
        stranger.kill()
        stranger.wait()
