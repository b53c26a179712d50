"""A launch forks its supervisor out of the launching process, which then turns into a clean interpreter.

Why: a new interpreter and its imports come before the first process of a launch that starts
one; a fork of the launcher has everything imported already. What must hold, all checked here
on real processes:

* the experiment's processes are the supervisor's own children, before and after its ``exec``
  into a clean interpreter (``--resume``), and the guardian is a clean interpreter too;
* nothing of the launcher stays with them: not its memory, not its open files or sockets;
* a process ending during the hand-over, and a delete during it, are handled as at any other time;
* a launcher with threads (where a fork is unsafe) starts a new interpreter instead, as does
  ``supervisor_start = "exec"``; the launcher's state database keeps working after a fork.
"""

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from symphony import Cluster
from symphony.errors import StateError
from symphony.host.processes import find_run_processes, is_alive, proc_stat
from symphony.local import cluster as local_module
from symphony.state import StateStore, closed_for_fork
from symphony.status import ProcessState
from waiting import wait_for

SLEEPER = "import time; time.sleep(60)"

#: what every launcher below runs first: a fresh interpreter with one thread, as a user's script
#: (the test process itself may have threads by now: other tests leave some)
PRELUDE = """
import json, os, sys, time
from symphony import Cluster
from symphony.local.cluster import _may_fork
assert _may_fork(), "the launcher has threads"
cluster = Cluster.new("local", grace=1.0, restart_backoff=0.1)
SLEEPER = {sleeper!r}
"""


def launcher(script):
    """Run ``script`` (after :data:`PRELUDE`) in a new interpreter; what it printed, as JSON."""
    result = subprocess.run([sys.executable, "-c", PRELUDE.format(sleeper=SLEEPER) + textwrap.dedent(script)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return handle.read().decode().rstrip("\0").split("\0")


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return dict(item.split("=", 1) for item in handle.read().decode().split("\0") if "=" in item)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))


def supervisor_of(cluster, name):
    return cluster.store.get_experiment("local", name)["supervisor_pid"]


def handed_over(pid):
    return cmdline(pid)[-1] == "--resume"


@pytest.fixture
def cluster():
    return Cluster.new("local", grace=1.0, restart_backoff=0.1)


def test_the_supervisor_forks_then_becomes_a_clean_interpreter_whose_children_the_processes_stay(cluster):
    seen = launcher("""
        ballast = bytearray(300 * 1024 * 1024)  # the launcher's memory, which the supervisor must not keep
        ballast[::4096] = b"x" * len(ballast[::4096])
        exp = cluster.new_experiment("forked")
        for i in range(3):
            exp.new_process(f"p{i}", command=sys.executable, args=["-c", SLEEPER])
        cluster.launch(exp)
        supervisor = cluster.store.get_experiment("local", "forked")["supervisor_pid"]
        with open(f"/proc/{supervisor}/cmdline", "rb") as handle:
            first = handle.read().decode().rstrip("\\0").split("\\0")
        print(json.dumps({"supervisor": supervisor, "cmdline": first,
                          "pids": [s.pid for s in cluster.describe_experiment("forked")]}))
        """)
    try:
        supervisor = supervisor_of(cluster, "forked")
        assert seen["supervisor"] == supervisor
        assert seen["cmdline"][:2] == [sys.executable, "-c"], "the supervisor was a fork of the launcher at first"
        assert [proc_stat(pid).ppid for pid in seen["pids"]] == [supervisor] * 3
        wait_for(lambda: handed_over(supervisor), timeout=10)
        assert cmdline(supervisor)[-3:] == ["local", "forked", "--resume"]
        assert environ(supervisor)["SYMPH_RUN_ID"] == cluster.store.get_experiment("local", "forked")["run_id"]
        assert rss_kib(supervisor) < 100 * 1024, "the supervisor kept the launcher's memory"
        guardian = proc_stat(supervisor).ppid
        wait_for(lambda: "symphony.local.guardian" in " ".join(cmdline(guardian)), timeout=10)
        assert rss_kib(guardian) < 100 * 1024
        assert [proc_stat(pid).ppid for pid in seen["pids"]] == [supervisor] * 3, "an exec keeps its children"
        statuses = cluster.describe_experiment("forked")
        assert [s.state for s in statuses] == [ProcessState.RUNNING] * 3
        assert [s.pid for s in statuses] == seen["pids"]
        assert not any(s.detail for s in statuses), "nothing was adopted: they are its own children"
        assert cluster.store.get_experiment("local", "forked")["adoptions"] == 0
    finally:
        cluster.delete("forked")


def test_the_launchers_open_sockets_stay_with_the_launcher(cluster):
    seen = launcher("""
        import socket
        listener = socket.create_server(("127.0.0.1", 0))
        listener.set_inheritable(True)  # (even one a child would inherit)
        exp = cluster.new_experiment("sockets")
        exp.new_process("p", command=sys.executable, args=["-c", SLEEPER])
        cluster.launch(exp)
        supervisor = cluster.store.get_experiment("local", "sockets")["supervisor_pid"]
        with open(f"/proc/{supervisor}/stat") as handle:
            guardian = int(handle.read().rsplit(")", 1)[1].split()[1])
        target = f"socket:[{os.fstat(listener.fileno()).st_ino}]"
        holders = []
        for pid in (supervisor, guardian, cluster.describe_experiment("sockets")[0].pid):
            if target in {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}:
                holders.append(pid)
        print(json.dumps({"port": listener.getsockname()[1], "holders": holders}))
        """)
    try:
        assert seen["holders"] == [], "the launcher's listening socket was kept by the experiment's daemons"
        socket.create_server(("127.0.0.1", seen["port"])).close()  # the launcher is gone: the port is free
    finally:
        cluster.delete("sockets")


def test_a_process_ending_during_the_hand_over_is_restarted(cluster):
    seen = launcher("""
        import symphony.local.supervisor
        symphony.local.supervisor.HANDOVER_SECONDS = 30  # (the fork's too) only the process's end ends the wait
        exp = cluster.new_experiment("quick")
        exp.new_process("fails", command=sys.executable, args=["-c", "import sys; sys.exit(3)"]) \\
            .restart_policy("OnFailure")
        exp.new_process("stays", command=sys.executable, args=["-c", SLEEPER])
        cluster.launch(exp)
        print(json.dumps({"supervisor": cluster.store.get_experiment("local", "quick")["supervisor_pid"]}))
        """)
    try:
        wait_for(lambda: next(s for s in cluster.describe_experiment("quick") if s.key == "fails").restarts >= 3,
                 timeout=15)  # (not 30 s: the first end ended the hand-over's wait)
        supervisor = supervisor_of(cluster, "quick")
        assert supervisor == seen["supervisor"] and handed_over(supervisor)
        stays = next(s for s in cluster.describe_experiment("quick") if s.key == "stays")
        assert stays.state is ProcessState.RUNNING and proc_stat(stays.pid).ppid == supervisor
    finally:
        cluster.delete("quick")


def test_a_delete_during_the_hand_over_leaves_nothing_running():
    seen = launcher("""
        from symphony.host.processes import find_run_processes, is_alive
        import symphony.local.supervisor
        symphony.local.supervisor.HANDOVER_SECONDS = 30  # (the fork's too) the delete comes during the wait
        outcomes = []
        for attempt in range(3):
            name = f"gone-{attempt}"
            exp = cluster.new_experiment(name)
            for i in range(4):
                exp.new_process(f"p{i}", command=sys.executable, args=["-c", SLEEPER])
            cluster.launch(exp)
            row = cluster.store.get_experiment("local", name)
            supervisor = row["supervisor_pid"]
            with open(f"/proc/{supervisor}/cmdline", "rb") as handle:
                before_hand_over = handle.read().rstrip(b"\\0").split(b"\\0")[-1] != b"--resume"
            with open(f"/proc/{supervisor}/stat") as handle:
                guardian = int(handle.read().rsplit(")", 1)[1].split()[1])
            began = time.monotonic()
            cluster.delete(name)
            outcomes.append({"seconds": time.monotonic() - began})
            outcomes[-1].update({"before_hand_over": before_hand_over, "left": find_run_processes(row["run_id"]),
                             "supervisor_alive": is_alive(supervisor), "guardian_alive": is_alive(guardian),
                             "listed": name in cluster.list_experiments()})
        print(json.dumps(outcomes))
        """)
    for outcome in seen:
        assert outcome["before_hand_over"], "the delete must come before the hand-over"
        assert outcome["seconds"] < 1.0, "the supervisor must stop at once, not be killed after the grace"
        assert outcome["left"] == [] and not outcome["listed"]
        assert not outcome["supervisor_alive"] and not outcome["guardian_alive"]


def test_a_launcher_with_threads_starts_a_new_interpreter_instead(cluster):
    """(In this test process, which may have threads of other tests' already.)"""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not local_module._may_fork()
        exp = cluster.new_experiment("threads")
        exp.new_process("p", command=sys.executable, args=["-c", SLEEPER])
        cluster.launch(exp)
    finally:
        stop.set()
        thread.join()
    try:
        supervisor = supervisor_of(cluster, "threads")
        assert "--wait" in cmdline(supervisor) and not handed_over(supervisor)
        assert cluster.describe_experiment("threads")[0].state is ProcessState.RUNNING
    finally:
        cluster.delete("threads")


def test_supervisor_start_exec_starts_a_new_interpreter(cluster, monkeypatch):
    monkeypatch.setattr(cluster, "supervisor_start", "exec")
    exp = cluster.new_experiment("exec")
    exp.new_process("p", command=sys.executable, args=["-c", SLEEPER])
    cluster.launch(exp)
    try:
        supervisor = supervisor_of(cluster, "exec")
        assert "--wait" in cmdline(supervisor)
        time.sleep(0.5)
        assert not handed_over(supervisor)
    finally:
        cluster.delete("exec")


def test_every_store_of_the_launcher_works_after_the_fork():
    seen = launcher("""
        from symphony.state import StateStore
        other = StateStore()  # another store on the same database (a second cluster object, the CLI's)
        names = []
        for attempt in range(2):  # (the second: after a delete, with cursors of the first left to collect)
            exp = cluster.new_experiment("stores")
            exp.new_process("p", command=sys.executable, args=["-c", SLEEPER])
            cluster.launch(exp)
            with open(f"/proc/{cluster.store.get_experiment('local', 'stores')['supervisor_pid']}/cmdline") as h:
                forked = h.read().rstrip("\\0").split("\\0")[-1] != "--wait"
            names.append([other.experiment_names("local"), cluster.list_experiments(), forked])
            with cluster.store.transaction():
                pass
            cluster.delete("stores")
        print(json.dumps(names + [other.experiment_names("local")]))
        """)
    assert seen == [[["stores"], ["stores"], True], [["stores"], ["stores"], True], []]


def test_no_fork_while_a_state_transaction_is_open():
    store = StateStore()
    with store.transaction():
        with pytest.raises(StateError, match="transaction"):
            with closed_for_fork():
                pass
    assert store.experiment_names("local") == []


def test_a_delete_during_the_start_stops_it_and_leaves_nothing_running(cluster, tmp_path):
    """A delete from elsewhere while the forked supervisor is still starting processes: the start stops,
    the launch fails saying so, and nothing of the run is left, its late starts included."""
    script = PRELUDE.format(sleeper=SLEEPER) + textwrap.dedent("""
        from symphony.errors import LaunchError
        exp = cluster.new_experiment("overtaken")
        for i in range(300):
            exp.new_process(f"p{i}", command="sleep", args=["60"])
        try:
            cluster.launch(exp)
            print("launched")
        except LaunchError as exc:
            print(f"refused: {exc}")
        """)
    launcher = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        def starting():
            row = cluster.store.get_experiment("local", "overtaken", brief=True)
            return row is not None and row["supervisor_pid"] and row["status"] == "starting" and row
        row = wait_for(starting, timeout=60, interval=0.01)
        cluster.delete("overtaken")
        out, err = launcher.communicate(timeout=120)
    finally:
        launcher.kill()
    assert launcher.returncode == 0, err
    assert out.strip().startswith("refused: ") and "deleted during its start" in out, out
    wait_for(lambda: not find_run_processes(row["run_id"]) and not is_alive(row["supervisor_pid"]), timeout=15)
    assert "overtaken" not in cluster.list_experiments()


def test_a_launch_failing_before_it_recorded_the_experiment_leaves_no_forked_daemon():
    """The supervisor and its guardian are forked as the launch begins, and wait for the launcher's word;
    a launch that fails while it plans or records (here: at the recording step) gives none, and they end
    before the launch's error reaches the caller."""
    seen = launcher("""
        def copies():
            # forked daemons that have not turned into interpreters of their own show this launcher's cmdline
            with open("/proc/self/cmdline", "rb") as handle:
                mine = handle.read()
            found = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        if handle.read() == mine and int(pid) != os.getpid():
                            found.append(int(pid))
                except OSError:
                    pass
            return found
        during = []
        def fail_at_record(step, detail):
            if step == "record":
                during.extend(copies())
                raise RuntimeError("injected failure while recording")
        cluster.fault_hook = fail_at_record
        exp = cluster.new_experiment("unrecorded")
        exp.new_process("p", command=sys.executable, args=["-c", SLEEPER])
        try:
            cluster.launch(exp)
        except RuntimeError as exc:
            error = str(exc)
        print(json.dumps({"error": error, "during": during, "after": copies(),
                          "listed": "unrecorded" in cluster.list_experiments()}))
        """)
    assert seen["error"] == "injected failure while recording"
    assert len(seen["during"]) >= 2, "the guardian and the supervisor wait, forked, while the launch records"
    assert seen["after"] == [] and not seen["listed"]


def test_what_a_supervisor_that_finished_at_once_left_behind_is_guarded_by_a_clean_guardian():
    """A process that leaves a daemon behind and exits 0 at once, with no restart: the supervisor finishes
    before its guardian's hand-over was due. The daemon, re-parented to the guardian, is still guarded by
    a clean interpreter (which carries the run's marker, so a delete finds it), not by a copy of the
    launcher; and the delete leaves nothing."""
    seen = launcher("""
        from symphony.host.processes import find_run_processes
        exp = cluster.new_experiment("left-behind")
        exp.new_process("p", command="sh", args=["-c", "sleep 60 & exit 0"]).restart_policy("Never")
        cluster.launch(exp)
        run_id = cluster.store.get_experiment("local", "left-behind")["run_id"]
        deadline = time.monotonic() + 30
        while cluster.store.get_experiment("local", "left-behind")["status"] != "finished":
            assert time.monotonic() < deadline, "the experiment never finished"
            time.sleep(0.05)
        def parent_of(pid):
            with open(f"/proc/{pid}/stat") as handle:
                return int(handle.read().rsplit(")", 1)[1].split()[1])
        def cmdline(pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    return handle.read().decode().split("\\0")
            except OSError:  # (ended meanwhile: the supervisor, say)
                return []
        orphan = next(pid for pid in find_run_processes(run_id) if cmdline(pid)[:1] == ["sleep"])
        deadline = time.monotonic() + 30
        # (its parent: the supervisor until it exits, then the guardian, exec'd at once or after 1 s)
        while "symphony.local.guardian" not in " ".join(cmdline(guardian := parent_of(orphan))):
            assert time.monotonic() < deadline, f"the orphan's parent is {cmdline(guardian)}"
            time.sleep(0.05)
        marked = guardian in find_run_processes(run_id)
        cluster.delete("left-behind")
        print(json.dumps({"marked": marked, "left": find_run_processes(run_id)}))
        """)
    assert seen["marked"], "the guardian carries the run's marker"
    assert seen["left"] == []


def test_an_experiment_whose_processes_all_ended_during_the_hand_over_finishes():
    """Every process ends while the forked supervisor waits to hand over: the new image reaps them, and
    must then see that all is done (no later event would tell it): the experiment finishes and its
    supervisor and guardian end."""
    seen = launcher("""
        from symphony.host.processes import is_alive
        exp = cluster.new_experiment("quick")
        for i in range(3):
            exp.new_process(f"p{i}", command="sh", args=["-c", "exit 0"]).restart_policy("Never")
        cluster.launch(exp)
        row = cluster.store.get_experiment("local", "quick")
        with open(f"/proc/{row['supervisor_pid']}/stat") as handle:
            guardian = int(handle.read().rsplit(")", 1)[1].split()[1])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (
                cluster.store.get_experiment("local", "quick")["status"] != "finished"
                or is_alive(row["supervisor_pid"]) or is_alive(guardian)):
            time.sleep(0.05)
        print(json.dumps({"status": cluster.store.get_experiment("local", "quick")["status"],
                          "supervisor_alive": is_alive(row["supervisor_pid"]), "guardian_alive": is_alive(guardian),
                          "states": [s.state for s in cluster.describe_experiment("quick")]}))
        cluster.delete("quick")
        """)
    assert seen["states"] == ["exited"] * 3
    assert seen["status"] == "finished"
    assert not seen["supervisor_alive"] and not seen["guardian_alive"]
