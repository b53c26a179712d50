"""Parts of the local supervisor and the host plan, each against real processes and real files.

* a process a supervisor started but could not record is recognised by what the kernel says
  of it (its key and run id in its environment, its own session, its start ticks), never by
  the wall clock, and never confused with its own children;
* the stored plan holds the variables every process shares once, and reads back exactly;
* the supervisor starts processes as ``subprocess`` would (argv, cwd, environment, stdin,
  log, own session, default signal dispositions) and reports a missing program by name;
* log growth reaches the ``--since`` index through the kernel's events, not a scan.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from symphony.host.plan import SHARED_ENV_KEY, LocalPlan, ProcessPlan
from symphony.host.processes import proc_stat, run_process_keys
from symphony.local.supervisor import LogWatch, Supervised, Supervisor, _started_for
from waiting import wait_for

# a process that starts a child carrying the same environment, then waits
PARENT_OF_ONE = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); " \
                "time.sleep(60)"


def spawn(run_id, key, program=PARENT_OF_ONE, session=True):
    env = {**os.environ, "SYMPH_RUN_ID": run_id, "SYMPH_PROCESS": key}
    return subprocess.Popen([sys.executable, "-c", program], env=env, start_new_session=session)


def test_a_started_process_is_recognised_by_its_key_and_session_not_its_children(monkeypatch):
    run_id = f"parts-{uuid.uuid4().hex[:8]}"
    top = spawn(run_id, "a")
    other = spawn(run_id, "b")
    stray = spawn(run_id, "a", "import time; time.sleep(60)", session=False)  # not a session leader: not one we start
    try:
        keys = wait_for(lambda: (found := run_process_keys(run_id)) and len(found) == 5 and found)
        assert sorted(keys.values()) == ["a", "a", "a", "b", "b"]
        wall = time.time
        for step in (0, 3600, -3600):  # the wall clock plays no part
            monkeypatch.setattr(time, "time", lambda: wall() + step)
            pid, stat = _started_for("a", keys)
            assert (pid, stat.start_ticks) == (top.pid, proc_stat(top.pid).start_ticks)
            assert _started_for("b", keys)[0] == other.pid
        assert _started_for("c", keys) is None
        top.kill()
        top.wait()
        left = wait_for(lambda: (found := run_process_keys(run_id)) and len(found) == 4 and found)
        # its child now belongs to init, and is no session leader: still not the process
        assert _started_for("a", left) is None
    finally:
        for process in (top, other, stray):
            process.kill()
            process.wait()
        for pid in run_process_keys(run_id):
            os.kill(pid, signal.SIGKILL)


def plan_of(processes, shared):
    return LocalPlan(backend="local", experiment="e", run_id="r", ports={}, processes=[
        ProcessPlan(key=key, group="", name=key, argv=["true"], cwd="/", env={**shared, **own},
                    restart_policy="Never", log_path=f"/tmp/{key}.log") for key, own in processes])


def test_the_stored_plan_holds_shared_variables_once_and_reads_back_exactly():
    shared = {f"SYMPH_S{i}_ADDR": f"127.0.0.1:{20000 + i}" for i in range(300)}
    plan = plan_of([("a", {"SYMPH_PROCESS": "a"}), ("b", {"SYMPH_PROCESS": "b", "SYMPH_S7_ADDR": "elsewhere"}),
                    ("c", {"SYMPH_PROCESS": "c", "ONLY_C": "1"})], shared)
    stored = json.loads(json.dumps(plan.to_dict()))
    assert len(stored[SHARED_ENV_KEY]) == 299 and "SYMPH_S7_ADDR" not in stored[SHARED_ENV_KEY]
    assert [p["env"] for p in stored["processes"]] == [
        {"SYMPH_PROCESS": "a", "SYMPH_S7_ADDR": shared["SYMPH_S7_ADDR"]},
        {"SYMPH_PROCESS": "b", "SYMPH_S7_ADDR": "elsewhere"},
        {"SYMPH_PROCESS": "c", "SYMPH_S7_ADDR": shared["SYMPH_S7_ADDR"], "ONLY_C": "1"}]
    back = LocalPlan.from_dict(stored)
    assert [p.env for p in back.processes] == [p.env for p in plan.processes]
    # a plan stored whole (before the shared part was kept apart, or by another host backend) still reads
    whole = {**plan.to_dict(), "processes": [dict(vars(p)) for p in plan.processes]}
    del whole[SHARED_ENV_KEY]
    assert [p.env for p in LocalPlan.from_dict(json.loads(json.dumps(whole))).processes] == \
        [p.env for p in plan.processes]


class NoStore:
    pass


def test_a_process_starts_as_subprocess_would_start_it(tmp_path, monkeypatch):
    """argv verbatim, its cwd, the inherited environment plus its own, stdin empty, stdout and stderr
    in its log, its own session, no signal ignored or blocked (the supervisor ignores SIGPIPE)."""
    probe = ("import json, os, signal, sys; print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(), "
             "'env': os.environ.get('ONLY_HERE'), 'inherited': os.environ.get('FROM_SUPERVISOR'), "
             "'stdin': sys.stdin.read(), 'session': os.getsid(0) == os.getpid()})); "
             "print('to stderr', file=sys.stderr)")
    log = tmp_path / "p.log"
    work = tmp_path / "work dir"
    work.mkdir()
    monkeypatch.setenv("FROM_SUPERVISOR", "yes")
    plan = LocalPlan(backend="local", experiment="e", run_id="r", ports={}, processes=[
        ProcessPlan(key="p", group="", name="p", argv=[os.path.basename(sys.executable), "-c", probe, "a b", ""],
                    cwd=str(work), env={"ONLY_HERE": "1", "PATH": os.path.dirname(sys.executable)},
                    restart_policy="Never", log_path=str(log))])
    supervisor = Supervisor(NoStore(), plan)
    child = supervisor.children[0]
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        supervisor.spawn(child)
    finally:
        signal.signal(signal.SIGPIPE, previous)
    _, status = os.waitpid(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.getcwd() != str(work), "the supervisor moved back"
    first, second = log.read_text().splitlines()
    assert json.loads(first) == {"argv": ["a b", ""], "cwd": str(work), "env": "1", "inherited": "yes", "stdin": "",
                                 "session": True}
    assert second == "to stderr"

    # what the kernel says of a program that changes no disposition itself: what subprocess leaves (SIGPIPE at
    # its default, though the supervisor ignores it), nothing blocked
    plan.processes[0].argv, plan.processes[0].env["PATH"] = ["cat", "/proc/self/status"], os.defpath
    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        supervisor.spawn(child)
    finally:
        signal.signal(signal.SIGPIPE, previous)
    os.waitpid(child.pid, 0)
    status = dict(line.split(":\t", 1) for line in log.read_text().splitlines()[2:] if ":\t" in line)
    by_subprocess = dict(line.split(":\t", 1) for line in subprocess.run(
        ["cat", "/proc/self/status"], capture_output=True, text=True, check=True).stdout.splitlines() if ":\t" in line)
    ignored = int(status["SigIgn"], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)) and ignored == int(by_subprocess["SigIgn"], 16)
    assert int(status["SigBlk"], 16) == 0

    plan.processes[0].argv = ["no-such-program-here"]
    with pytest.raises(FileNotFoundError) as caught:
        Supervisor(NoStore(), plan).spawn(Supervisor(NoStore(), plan).children[0])
    assert caught.value.filename == "no-such-program-here"


def test_log_growth_reaches_the_index_through_kernel_events(tmp_path):
    logs = [tmp_path / f"{name}.log" for name in "ab"]
    for path in logs:
        path.write_text("")
    children = [Supervised(ProcessPlan(key=path.stem, group="", name=path.stem, argv=["true"], cwd="/", env={},
                                       restart_policy="Never", log_path=str(path))) for path in logs]
    logs[0].write_text("before\n")  # written before the watch: indexed when it begins
    watch = LogWatch(children)
    assert watch.fd is not None and watch.unwatched == [] and watch.listening
    assert (tmp_path / "a.log.idx").read_text().split()[1] == "7"
    assert not (tmp_path / "b.log.idx").exists(), "an empty log needs no index: every read starts at 0 anyway"
    assert watch.timeout(time.monotonic()) is None, "idle: nothing to wake up for"
    with open(logs[1], "a") as handle:
        handle.write("line\n")
    import select
    assert select.select([watch.fd], [], [], 5)[0], "the kernel says a log grew"
    watch.read(time.monotonic())
    assert not watch.listening and 0 < watch.timeout(time.monotonic()) <= 0.5, "resting after a batch"
    assert [line.split()[1] for line in (tmp_path / "b.log.idx").read_text().splitlines()] == ["5"]
    assert len((tmp_path / "a.log.idx").read_text().splitlines()) == 1, "a did not grow: not indexed again"
    os.close(watch.fd)


def test_an_adopted_process_seen_while_its_guardian_reaps_it_has_ended(tmp_path, monkeypatch):
    """While a parent reaps its child, ``/proc/<pid>/stat`` shows the state ``X`` for a moment, with
    the child's start ticks still there. An adopted process seen so has ended (its guardian recorded
    how before it reaped it): its end is taken from that record, not left for a look that never comes.
    And a pidfd closed once its process's end is known leaves the poller, which would else wake at
    once on every poll."""
    import select
    from symphony.local import supervisor as supervisor_module
    from symphony.local.guardian import exits_dir, record_exit
    plan = LocalPlan(backend="local", experiment="e", run_id="r", ports={}, processes=[
        ProcessPlan(key="p", group="", name="p", argv=["true"], cwd="/", env={}, restart_policy="Never",
                    log_path=str(tmp_path / "p.log"))])
    supervisor = Supervisor(NoStore(), plan)
    child = supervisor.children[0]
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
    try:
        child.pid, child.adopted, child.start_ticks = process.pid, True, proc_stat(process.pid).start_ticks
        supervisor._watch(child)
        supervisor.poller = select.poll()
        supervisor.poller.register(child.pidfd, select.POLLIN)
        wait_for(lambda: proc_stat(process.pid).state == "Z")
        record_exit(exits_dir(str(tmp_path)), process.pid, 3)  # as its guardian does, before it reaps
        being_reaped = proc_stat(process.pid)._replace(state="X")
        monkeypatch.setattr(supervisor_module, "proc_stat", lambda pid: being_reaped)
        fields = supervisor.check_adopted(child)
    finally:
        process.wait()
    assert fields is not None and (fields["status"], fields["exit_code"]) == ("exited", 3)
    assert child.pidfd is None and supervisor.by_pidfd == {}
    assert supervisor.poller.poll(0) == [], "the closed pidfd left the poller"
