"""The tmux backend against real tmux servers (private sockets), real processes and real logs."""

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from symphony import Cluster
from symphony.errors import ExperimentExistsError, LaunchError, SpecError
from symphony.host.processes import find_run_processes
from symphony.status import ProcessState
from symphony.tmux import TmuxCluster
from symphony.tmux.script import SHARED_ENV_FILE, TmuxPlan
from waiting import wait_for

pytestmark = [pytest.mark.tmux, pytest.mark.slow]

PROBE = ("import json, os, sys; json.dump({'argv': sys.argv[1:], 'env': dict(os.environ), 'cwd': os.getcwd()}, "
         "open(os.environ['PROBE_OUT'] + '.' + os.environ['SYMPH_PROCESS'].replace('/', '_'), 'w'))")
NASTY = ["with space", "it's", 'say "hi"', "$HOME", "${PATH}", "a;b", ";", "end;", "x|y&z", "new\nline",
         "~", "#{pane_id}", "#S", "back\\slash", "tab\there", "ünï", "*", ""]


def tmux(server_name, *args):
    return subprocess.run(["tmux", "-L", server_name, *args], capture_output=True, text=True)


def statuses(cluster, name):
    return {s.key: s for s in cluster.describe_experiment(name)}


def parsed(path):
    """The JSON in ``path`` once it is there whole, else None."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # not written yet, or written part-way
        return None


def read_probe(tmp_path, key):
    return wait_for(lambda: parsed(tmp_path / f"probe.{key.replace('/', '_')}"))


def indexed_offsets(log_path):
    """The byte offsets the ``--since`` index of ``log_path`` has recorded so far."""
    try:
        with open(log_path + ".idx") as index:
            return [int(line.split()[1]) for line in index if len(line.split()) == 2]
    except OSError:
        return []


def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_bad_server_name_is_refused_when_the_cluster_is_declared():
    with pytest.raises(SpecError, match="server_name 'my/server' is invalid"):
        Cluster.new("tmux", server_name="my/server")


def test_dry_run_prints_the_tmux_commands_and_starts_nothing(tmux_cluster, server_name, capsys):
    exp = tmux_cluster.new_experiment("dry")
    exp.new_process("a", command="sleep", args=["30"])
    tmux_cluster.launch(exp, dry_run=True)
    out = capsys.readouterr().out
    assert f"tmux -L {server_name} attach -t dry" in out
    assert 'new-window -d -t "=dry:1" -n "a"' in out
    assert tmux(server_name, "list-sessions").returncode != 0, "no tmux server may be started"
    assert tmux_cluster.list_experiments() == []


def test_arguments_env_and_cwd_arrive_verbatim_in_both_command_forms(tmux_cluster, server_name, tmp_path,
                                                                    monkeypatch, capsys):
    monkeypatch.setenv("PROBE_OUT", str(tmp_path / "probe"))   # the launching environment reaches windows
    monkeypatch.setenv("SYMPH_SVC_PORT", "1")                  # ... but never overrides SYMPH_*
    workdir = tmp_path / "work dir #1"
    workdir.mkdir()
    exp = tmux_cluster.new_experiment("verbatim", env={"SHARED": "exp", "QUOTED": "it's \"$x\"; `y`\nz"})
    exec_form = exp.new_process("exec-form", command=sys.executable, args=["-c", PROBE, *NASTY],
                                env={"SHARED": "process"}, cwd=str(workdir))
    exec_form.binds("svc")
    group = exp.new_process_group("grp")
    shell_form = group.new_process("shell-form", cmds=[
        "NOTE='quotes \" and $dollar; semicolon'",
        f"{sys.executable} -c \"$PROBE_CODE\" \"$NOTE\" 'single $not-expanded'"],
        env={"PROBE_CODE": PROBE})
    shell_form.connects("svc")
    tmux_cluster.launch(exp)
    printed = capsys.readouterr()
    assert "processes in tmux" not in printed.out + printed.err, "the one launch line is Cluster.launch's"
    assert len((printed.out + printed.err).splitlines()) <= 1, printed

    probe = read_probe(tmp_path, "exec-form")
    assert probe["argv"] == NASTY
    assert probe["cwd"] == str(workdir)
    env = probe["env"]
    assert env["SHARED"] == "process" and env["QUOTED"] == "it's \"$x\"; `y`\nz"
    assert env["SYMPH_SVC_PORT"] != "1" and env["SYMPH_SVC_ADDR"] == f"127.0.0.1:{env['SYMPH_SVC_PORT']}"
    assert env["SYMPH_PROCESS"] == "exec-form" and env["SYMPH_EXPERIMENT"] == "verbatim"
    assert env["PROBE_OUT"] == str(tmp_path / "probe")

    shell_probe = read_probe(tmp_path, "grp/shell-form")
    assert shell_probe["argv"] == ['quotes " and $dollar; semicolon', "single $not-expanded"]
    assert shell_probe["env"]["SYMPH_SVC_ADDR"] == env["SYMPH_SVC_ADDR"]
    assert shell_probe["env"]["SHARED"] == "exp"

    windows = tmux(server_name, "list-windows", "-t", "=verbatim", "-F", "#{window_name}").stdout.split()
    assert windows == ["exec-form", "grp:shell-form"]
    env_of_session = tmux(server_name, "show-environment", "-t", "=verbatim").stdout.splitlines()
    assert any(line.startswith("QUOTED=") for line in env_of_session), "the env all processes share is set once"
    assert not any(line.startswith("SYMPH_PROCESS=") for line in env_of_session), "the rest per window"
    # the service addresses all share are not on the session (tmux would set them in every window one by one,
    # in time growing with their number squared), but once in the file each window's runner passes on
    assert not any(line.startswith("SYMPH_SVC_") for line in env_of_session)
    shared_file = os.path.join(tmux_cluster._log_dir("verbatim"), SHARED_ENV_FILE)
    assert f"\0SYMPH_SVC_PORT={env['SYMPH_SVC_PORT']}\0" in "\0" + open(shared_file).read()
    assert os.stat(shared_file).st_mode & 0o777 == 0o600


def test_single_argument_program_with_spaces_runs_verbatim(tmux_cluster, tmp_path):
    program = tmp_path / "my program"
    marker = tmp_path / "ran"
    program.write_text(f"#!/bin/sh\necho \"$0\" > '{marker}'\n")
    program.chmod(0o755)
    exp = tmux_cluster.new_experiment("single")
    exp.new_process("p", command=str(program))
    tmux_cluster.launch(exp)
    wait_for(lambda: marker.exists() and marker.read_text())
    assert marker.read_text().strip() == str(program)


def test_preamble_runs_first_in_the_windows_shell_in_order(server_name, tmp_path):
    cluster = Cluster.new("tmux", server_name=server_name, preamble_cmds=["echo cluster", "export FROM_PREAMBLE=yes"])
    exp = cluster.new_experiment("preamble", preamble_cmds=["echo experiment"])
    group = exp.new_process_group("g", preamble_cmds=["echo group"])
    group.new_process("p", command="sh", args=["-c", "echo process $FROM_PREAMBLE \"$0\"", "arg with space"],
                      preamble_cmds=["echo own"])
    cluster.launch(exp)
    wait_for(lambda: statuses(cluster, "preamble")["g/p"].state == ProcessState.EXITED)
    lines = wait_for(lambda: list(cluster.get_log("preamble", "p")) if len(list(cluster.get_log("preamble", "p"))) >= 5 else None)
    assert lines == ["cluster", "experiment", "group", "own", "process yes arg with space"]


def test_status_shows_running_exit_codes_signals_and_age(tmux_cluster):
    exp = tmux_cluster.new_experiment("status")
    exp.new_process("runs", command="sleep", args=["60"])
    exp.new_process("fails", cmds=["exit 3"])
    exp.new_process("killed", cmds=["kill -9 $$"])
    tmux_cluster.launch(exp)
    wait_for(lambda: {s.state for k, s in statuses(tmux_cluster, "status").items() if k != "runs"}
             <= {ProcessState.EXITED, ProcessState.KILLED})
    found = statuses(tmux_cluster, "status")
    assert found["runs"].state == ProcessState.RUNNING and found["runs"].ready and alive(found["runs"].pid)
    assert found["runs"].state_text().startswith("running: ")
    assert (found["fails"].state, found["fails"].exit_code) == (ProcessState.EXITED, 3)
    assert found["fails"].state_text().startswith("exited (3): ")
    assert (found["killed"].state, found["killed"].signal) == (ProcessState.KILLED, "SIGKILL")
    assert all(s.restarts == 0 for s in found.values())
    assert found["runs"].started <= time.time() and found["fails"].finished >= found["fails"].started


def test_restart_policy_is_honoured_and_counted(tmux_cluster):
    exp = tmux_cluster.new_experiment("restarts")
    exp.new_process("on-failure", cmds=["echo attempt", "exit 1"]).restart_policy("OnFailure")
    exp.new_process("succeeds", cmds=["echo once", "exit 0"]).restart_policy("OnFailure")
    exp.new_process("always", cmds=["echo again", "exit 0"]).restart_policy("Always")
    exp.new_process("never", cmds=["exit 1"])
    tmux_cluster.launch(exp)
    wait_for(lambda: all(statuses(tmux_cluster, "restarts")[k].restarts >= 3 for k in ("on-failure", "always")))
    found = statuses(tmux_cluster, "restarts")
    succeeds, never = found["succeeds"], found["never"]
    assert (succeeds.state, succeeds.exit_code, succeeds.restarts) == (ProcessState.EXITED, 0, 0)
    assert (never.state, never.exit_code, never.restarts) == (ProcessState.EXITED, 1, 0)
    attempts = list(tmux_cluster.get_log("restarts", "on-failure"))
    assert attempts.count("attempt") >= 3, "the log keeps the output of every run"
    assert list(tmux_cluster.get_log("restarts", "succeeds")) == ["once"]


def test_logs_tail_since_and_follow(tmux_cluster):
    exp = tmux_cluster.new_experiment("logs")
    exp.new_process("talker", cmds=["echo early-1", "echo early-2", "sleep 2.5", "echo late", "sleep 1.5", "echo last"])
    tmux_cluster.launch(exp)
    follow = tmux_cluster.get_log("logs", "talker", follow=True)
    assert next(follow) == "early-1"
    wait_for(lambda: "late" in list(tmux_cluster.get_log("logs", "talker")))
    log_path = tmux_cluster._process_row("logs", "talker")["log_path"]
    after_late = len(b"early-1\nearly-2\nlate\n")
    wait_for(lambda: after_late in indexed_offsets(log_path), timeout=5)  # the index knows where "late" ends
    assert list(tmux_cluster.get_log("logs", "talker", since="1s")) == ["late"]
    assert list(tmux_cluster.get_log("logs", "talker", since=3600)) == ["early-1", "early-2", "late"]
    assert list(tmux_cluster.get_log("logs", "talker", tail=1)) == ["late"]
    assert list(follow) == ["early-2", "late", "last"], "follow ends when the process has exited"
    log_files = os.listdir(os.path.dirname(tmux_cluster._process_row("logs", "talker")["log_path"]))
    assert "talker.log.idx" in log_files


def test_log_has_lf_line_ends_keeps_carriage_returns_and_a_last_line_without_newline(tmux_cluster):
    exp = tmux_cluster.new_experiment("crlf")
    exp.new_process("bar", cmds=[r"printf 'step 1\rstep 2\n'", "printf 'no newline at the end'"])
    tmux_cluster.launch(exp)
    wait_for(lambda: statuses(tmux_cluster, "crlf")["bar"].state == ProcessState.EXITED)
    expected = b"step 1\rstep 2\nno newline at the end"
    log_path = tmux_cluster._process_row("crlf", "bar")["log_path"]
    wait_for(lambda: open(log_path, "rb").read() == expected, timeout=5)
    assert list(tmux_cluster.get_log("crlf", "bar")) == ["step 1\rstep 2", "no newline at the end"]


def test_delete_kills_the_session_and_every_process_it_started(tmux_cluster, server_name, tmp_path):
    daemon_pid_file = tmp_path / "daemon.pid"
    daemonise = ("import os, signal, time\n"
                 "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"  # as nohup does: the pane's exit hangs up
                 "if os.fork(): os._exit(0)\n"
                 "os.setsid()\n"
                 "if os.fork(): os._exit(0)\n"
                 f"open({str(daemon_pid_file)!r}, 'w').write(str(os.getpid()))\n"
                 "time.sleep(600)\n")
    exp = tmux_cluster.new_experiment("doomed")
    exp.new_process("stubborn", cmds=["trap '' HUP TERM", "sleep 600 & wait"])
    exp.new_process("daemon", command=sys.executable, args=["-c", daemonise])
    exp.new_process("plain", command="sleep", args=["600"])
    tmux_cluster.launch(exp)
    run_id = tmux_cluster.store.get_experiment("tmux", "doomed")["run_id"]
    daemon_pid = int(wait_for(lambda: daemon_pid_file.exists() and daemon_pid_file.read_text()))
    started = wait_for(lambda: (pids := find_run_processes(run_id)) and len(pids) >= 5 and pids)
    assert daemon_pid in started
    tmux_cluster.delete("doomed")
    assert not any(alive(pid) for pid in started), "nothing started by the experiment survives delete"
    assert find_run_processes(run_id) == []
    assert tmux(server_name, "has-session", "-t", "=doomed").returncode != 0
    assert tmux_cluster.list_experiments() == []


def test_server_killed_externally_shows_processes_as_lost(tmux_cluster, server_name):
    exp = tmux_cluster.new_experiment("orphaned")
    exp.new_process("a", cmds=["echo hello", "sleep 600"])
    exp.new_process_group("g").new_process("b", command="sleep", args=["600"])
    tmux_cluster.launch(exp)
    wait_for(lambda: list(tmux_cluster.get_log("orphaned", "a")) == ["hello"])
    assert tmux(server_name, "kill-server").returncode == 0
    found = statuses(tmux_cluster, "orphaned")
    assert {s.state for s in found.values()} == {ProcessState.LOST}
    assert f"tmux server {server_name!r} is not running" in found["g/b"].state_text()
    assert list(tmux_cluster.get_log("orphaned", "a", follow=True)) == ["hello"], "logs outlive the server"
    tmux_cluster.delete("orphaned")
    assert tmux_cluster.list_experiments() == []


def test_session_closed_by_hand_is_lost_too(tmux_cluster, server_name):
    for name in ("closed", "kept"):
        exp = tmux_cluster.new_experiment(name)
        exp.new_process("a", command="sleep", args=["600"])
        tmux_cluster.launch(exp)
    tmux(server_name, "kill-session", "-t", "=closed")
    assert statuses(tmux_cluster, "closed")["a"].state == ProcessState.LOST
    assert "closed outside Symphony" in statuses(tmux_cluster, "closed")["a"].detail
    assert statuses(tmux_cluster, "kept")["a"].state == ProcessState.RUNNING


def test_a_foreign_session_of_the_same_name_is_refused_and_left_alone(tmux_cluster, server_name):
    assert tmux(server_name, "-f", os.devnull, "new-session", "-d", "-s", "taken", "-n", "theirs", "sleep", "600").returncode == 0
    exp = tmux_cluster.new_experiment("taken")
    exp.new_process("a", command="sleep", args=["600"])
    with pytest.raises(ExperimentExistsError, match="kill-session -t taken"):
        tmux_cluster.launch(exp)
    assert tmux(server_name, "list-windows", "-t", "=taken", "-F", "#{window_name}").stdout.split() == ["theirs"]
    assert tmux_cluster.list_experiments() == []


def test_a_launch_failing_half_way_leaves_nothing_running(tmux_cluster, server_name, monkeypatch):
    original_commands, original_start = TmuxPlan.window_commands, TmuxCluster._start_supervisor
    run_ids = []

    def second_window_fails(plan, index, process, *rest):
        commands = original_commands(plan, index, process, *rest)
        return commands if index == 1 else ["select-window -t no-such-window"] + commands

    def recording_start(cluster, plan):
        run_ids.append(plan.run_id)
        return original_start(cluster, plan)
    monkeypatch.setattr(TmuxPlan, "window_commands", second_window_fails)
    monkeypatch.setattr(TmuxCluster, "_start_supervisor", recording_start)
    exp = tmux_cluster.new_experiment("half")
    exp.new_process("first", command="sleep", args=["600"])
    exp.new_process("second", command="sleep", args=["600"])
    with pytest.raises(LaunchError, match="nothing was left running: can't find window"):
        tmux_cluster.launch(exp)
    assert tmux(server_name, "has-session", "-t", "=half").returncode != 0
    assert tmux_cluster.list_experiments() == []
    assert run_ids and find_run_processes(run_ids[0]) == [], "the first window's process was stopped"


def test_exec_ssh_and_visit(tmux_cluster, server_name, tmp_path):
    exp = tmux_cluster.new_experiment("acts")
    exp.new_process("web", command="sleep", args=["600"]).exposes({"dashboard": None})
    exp.new_process_group("g").new_process("b", command="sleep", args=["600"])
    tmux_cluster.launch(exp)
    out = tmp_path / "exec.out"
    code = tmux_cluster.exec_command("acts", "b", ["sh", "-c", f"echo $SYMPH_PROCESS $SYMPH_DASHBOARD_PORT > '{out}'; exit 7"])
    assert code == 7
    process, port = out.read_text().split()
    assert process == "g/b" and tmux_cluster.external_url("acts", "dashboard") == f"http://127.0.0.1:{port}"

    # `symphony ssh b` attaches a real terminal to b's window
    leader, follower = pty.openpty()
    attach = subprocess.Popen(
        [sys.executable, "-c", "import sys; from symphony import Cluster; "
         f"sys.exit(Cluster.new('tmux', server_name={server_name!r}).shell('acts', 'b'))"],
        stdin=follower, stdout=follower, stderr=follower, env={**os.environ, "TERM": "xterm"}, start_new_session=True)
    os.close(follower)
    try:
        clients = wait_for(lambda: tmux(server_name, "list-clients", "-F", "#{session_name} #{window_name}").stdout.split())
        assert clients == ["acts", "g:b"]
        tmux(server_name, "detach-client", "-s", "=acts")
        assert attach.wait(timeout=10) == 0
    finally:
        if attach.poll() is None:
            os.killpg(attach.pid, signal.SIGKILL)
        os.close(leader)


def test_tmux_cluster_is_what_the_registry_builds(server_name):
    assert isinstance(Cluster.new("tmux", server_name=server_name), TmuxCluster)


def test_missing_or_old_tmux_is_reported_in_one_line_and_nothing_is_recorded(tmux_cluster, tmp_path, monkeypatch):
    from symphony.errors import BackendUnavailableError
    from symphony.tmux.client import tmux_binary
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    exp = tmux_cluster.new_experiment("no-tmux")
    exp.new_process("a", command=sys.executable, args=["-c", "pass"])
    tmux_binary.cache_clear()
    try:
        with pytest.raises(BackendUnavailableError, match="tmux is not installed: install it"):
            tmux_cluster.launch(exp)
        assert tmux_cluster.list_experiments() == []
        old = bin_dir / "tmux"  # no tmux 3.1 to run here: a stand-in that only answers -V
        old.write_text("#!/bin/sh\necho 'tmux 3.1c'\n")
        old.chmod(0o755)
        tmux_binary.cache_clear()
        with pytest.raises(BackendUnavailableError, match="tmux 3.1c is too old: the tmux backend needs tmux 3.3"):
            tmux_cluster.launch(exp)
        assert tmux_cluster.list_experiments() == []
    finally:
        tmux_binary.cache_clear()


def symphony_cli(*argv, stdin=subprocess.DEVNULL):
    """The real `symphony` command on the tmux backend, with its default server (not the test's)."""
    return subprocess.run([sys.executable, "-m", "symphony.cli", "-b", "tmux", *argv], stdin=stdin,
                          capture_output=True, text=True, timeout=120)


def test_the_cli_uses_the_server_the_experiment_was_launched_on(tmux_cluster, server_name):
    exp = tmux_cluster.new_experiment("rl")
    exp.new_process("learner", command="sleep", args=["600"])
    tmux_cluster.launch(exp)
    listed = symphony_cli("p", "rl")
    assert listed.returncode == 0, listed.stderr
    assert "running" in listed.stdout and "lost" not in listed.stdout, listed.stdout
    run_id = tmux_cluster.store.get_experiment("tmux", "rl")["run_id"]
    deleted = symphony_cli("delete", "-f", "rl")
    assert deleted.returncode == 0, deleted.stderr
    assert tmux(server_name, "has-session", "-t", "=rl").returncode != 0, "the session goes with the experiment"
    assert find_run_processes(run_id) == []
    tmux_cluster.launch(exp)  # nothing of the first launch is in the way
    assert statuses(tmux_cluster, "rl")["learner"].state == ProcessState.RUNNING


def test_a_process_being_restarted_is_never_shown_exited_and_follow_goes_on(tmux_cluster, server_name):
    exp = tmux_cluster.new_experiment("flaky")
    exp.new_process("quick", cmds=["echo tick"]).restart_policy("Always")
    tmux_cluster.launch(exp)

    def follow():  # a cluster object of its own: its state connection belongs to this thread
        lines.extend(Cluster.new("tmux", server_name=server_name).get_log("flaky", "quick", follow=True))
    lines, followed = [], threading.Thread(target=follow, daemon=True)
    followed.start()
    seen = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # between the pane dying and its hook recording the restart, too
        quick = statuses(tmux_cluster, "flaky")["quick"]
        seen.add(quick.state)
        if quick.restarts >= 4:
            break
    assert quick.restarts >= 4 and seen <= {ProcessState.RUNNING, ProcessState.RESTARTING}, seen
    assert followed.is_alive(), "`logs --follow` must not end while the process restarts"
    tmux_cluster.delete("flaky")
    followed.join(timeout=20)
    assert not followed.is_alive() and lines.count("tick") >= 4


def test_missing_tmux_is_named_not_blamed_on_the_server(tmux_cluster, tmp_path, monkeypatch):
    exp = tmux_cluster.new_experiment("nopath")
    exp.new_process("a", command="sleep", args=["600"])
    tmux_cluster.launch(exp)
    with monkeypatch.context() as patch:  # undone before the fixture kills the server with tmux
        patch.setenv("PATH", str(tmp_path))
        found = statuses(tmux_cluster, "nopath")["a"]
    assert found.state == ProcessState.LOST and "tmux is not installed or not on PATH" in found.state_text()
    assert "not running" not in found.state_text()


def test_ssh_without_a_terminal_says_so_and_points_to_exec(tmux_cluster):
    exp = tmux_cluster.new_experiment("noterm")
    exp.new_process("a", command="sleep", args=["600"])
    tmux_cluster.launch(exp)
    result = subprocess.run(  # as the existing ssh test, on the test's server, but without a terminal
        [sys.executable, "-c", "import sys; from symphony import Cluster; "
         f"sys.exit(Cluster.new('tmux', server_name={tmux_cluster.server_name!r}).shell('noterm', 'a'))"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "stdin is not a terminal" in result.stderr and "symphony exec a -- CMD" in result.stderr, result.stderr
    assert "open terminal failed" not in result.stderr


def test_listing_and_describing_load_neither_psutil_nor_yaml(tmux_cluster, server_name):
    exp = tmux_cluster.new_experiment("light")
    exp.new_process("a", command="sleep", args=["600"])
    exp.new_process("b", cmds=["exit 3"]).restart_policy("OnFailure")  # a dead pane: restart policies are read
    tmux_cluster.launch(exp)
    code = ("import json, sys\n"
            "from symphony.tmux.cluster import TmuxCluster\n"
            f"cluster = TmuxCluster(server_name={server_name!r})\n"
            "print(json.dumps({'names': cluster.list_experiments(),\n"
            "                  'states': [s.state for s in cluster.describe_experiment('light')],\n"
            "                  'heavy': [m for m in sys.modules if m.split('.')[0] in ('psutil', 'yaml')]}))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["names"] == ["light"] and seen["states"][0] == ProcessState.RUNNING and len(seen["states"]) == 2
    assert seen["heavy"] == []
