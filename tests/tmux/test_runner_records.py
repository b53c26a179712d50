"""The Perl window runner's restart decision and its event file, against symphony.host.restarts and the real
state database; and what the runner's own interpreter must never do to the process."""

import errno
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from symphony.host.processes import signal_name
from symphony.state import StateStore
from symphony.status import ProcessState
from symphony.tmux.runner import EVENTS_FILE, READ_SUFFIX, RUNNER_FILE, decision, execve_spec, ingest, next_run, \
    runner_argv
from symphony.tmux.script import TmuxPlan

pytestmark = pytest.mark.tmux

ENDINGS = [(0, None), (1, None), (137, None), (None, signal.SIGTERM), (None, signal.SIGKILL), (None, None)]


def perl_decides(policy, backoff, cases):
    """The Perl runner's own answers, from the parameters the plan gives it, to ``(exit code, signal, ran for,
    failures)`` cases."""
    argv = runner_argv("perl", os.devnull, SimpleNamespace(key="p", restart_policy=policy, argv=["true"]), "run",
                       backoff, 1.0)
    lines = "".join(f"{'-' if code is None else code} {'-' if signum is None else int(signum)} {ran_for} {failures}\n"
                    for code, signum, ran_for, failures in cases)
    answers = subprocess.run([*argv[:argv.index("--") + 1], "--decide"], input=lines, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    return [(restart == "1", int(failures), None if delay == "-" else float(delay))
            for restart, failures, delay in (answer.split() for answer in answers)]


@pytest.mark.parametrize("policy", ["Always", "OnFailure", "Never"])
def test_the_perl_runner_decides_restarts_exactly_as_the_host_rule(policy):
    for backoff in (0.0, 0.1, 1.0, 7.0):
        cases = [(exit_code, signum, ran_for, failures) for exit_code, signum in ENDINGS
                 for ran_for, failures in ((0.5, 0), (0.5, 3), (9.99, 12), (10.0, 5), (3600.0, 0))]
        expected = [next_run(policy, exit_code, signum, ran_for, failures, backoff)
                    for exit_code, signum, ran_for, failures in cases]
        assert perl_decides(policy, backoff, cases) == expected


def test_the_decision_table_reaches_the_longest_backoff_and_stays_there():
    restarts, stable, delays = decision("OnFailure", 1.0)
    assert restarts == "011" and float(stable) == 10.0
    assert [float(delay) for delay in delays.split(",")] == [1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]


@pytest.fixture
def recorded(tmp_path):
    """A real state database with one two-process experiment being launched, and its (empty) events file."""
    store = StateStore(str(tmp_path))
    store.insert_experiment("tmux", "exp", "run-1", {}, {}, [
        {"key": key, "group": "", "name": key, "log_path": str(tmp_path / f"{key}.log")} for key in ("a", "b")])
    events = tmp_path / EVENTS_FILE
    events.write_text("")
    return store, events


def rows(store):
    return {row["key"]: dict(row) for row in store.processes("tmux", "exp")}


def test_events_are_applied_once_in_order_and_never_before_the_launch_marks_the_start(recorded):
    store, events = recorded
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as handle:
        uptime = float(handle.read().split()[0])
    events.write_text(f"S a 4242 {int((uptime - 5) * ticks)} 0\nE a {uptime - 3} 5 - 1\nS a 4343 1234 1\n"
                      f"E b {uptime - 1} - {int(signal.SIGSEGV)} 0\nS b 99")   # (a line still being written)
    ingest(store, "exp", "run-1", str(events))
    assert {row["status"] for row in rows(store).values()} == {"pending"}, "the launch has not marked them started"

    store.mark_started("tmux", "exp", 1.0)
    ingest(store, "exp", "run-1", str(events))
    a, b = rows(store)["a"], rows(store)["b"]
    assert (a["status"], a["pid"], a["start_ticks"], a["restarts"], a["exit_code"]) == (
        ProcessState.RUNNING, 4343, 1234, 1, None)
    assert (b["status"], b["signal"], b["exit_code"], b["pid"]) == (ProcessState.KILLED, signal_name(signal.SIGSEGV),
                                                                      None, None)
    assert abs(b["finished"] - (time.time() - 1)) < 1, "uptime stamps become wall-clock times"
    assert int(events.with_name(EVENTS_FILE + READ_SUFFIX).read_text()) == len(events.read_bytes()) - len("S b 99")

    store.update_process("tmux", "exp", "a", status=ProcessState.EXITED)  # (were anything applied twice, ...)
    with open(events, "a") as handle:
        handle.write(" 5555 0\n")                                         # the partial line, now complete
    ingest(store, "exp", "run-1", str(events))
    assert rows(store)["a"]["status"] == ProcessState.EXITED, "each event is applied once"
    assert (rows(store)["b"]["status"], rows(store)["b"]["pid"]) == (ProcessState.RUNNING, 99)


def test_events_of_another_run_or_during_a_delete_change_nothing(recorded):
    store, events = recorded
    store.mark_started("tmux", "exp", 1.0)
    events.write_text("S a 4242 1 0\n")
    ingest(store, "exp", "run-0", str(events))        # an older run's runner
    assert rows(store)["a"]["pid"] is None
    store.update_experiment("tmux", "exp", status="deleting")
    ingest(store, "exp", "run-1", str(events))
    assert rows(store)["a"]["pid"] is None
    ingest(store, "exp", "run-1", str(events), deleting=True)  # (the delete itself reads them: pids to stop)
    assert rows(store)["a"]["pid"] == 4242


def test_the_runner_leaves_perl_settings_to_the_process_and_says_nothing(tmp_path):
    """PERL5OPT of the process must not change its runner (taint mode ignores it), nor may Perl's locale warning
    reach the window; the process still gets exactly its environment."""
    out = tmp_path / "env"
    env = {"PATH": os.environ["PATH"], "PERL5OPT": "-MNo::Such::Module", "LANG": "xx_YY.UTF-8",
           "PERL_BADLANG": "0", "SYMPH_RUN_ID": "r", "SYMPH_PROCESS": "p"}
    process = SimpleNamespace(key="p", restart_policy="Never",
                              argv=[sys.executable, "-c", "import sys; open(sys.argv[1], 'wb').write("
                                    "open('/proc/self/environ', 'rb').read())", str(out)])
    argv = runner_argv("perl", str(tmp_path / EVENTS_FILE), process, "r", 0.1, 1.0, drop_env="PERL_BADLANG")
    result = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    seen = dict(entry.split("=", 1) for entry in out.read_bytes().decode().split("\0") if entry)
    assert seen == {name: value for name, value in env.items() if name != "PERL_BADLANG"}
    events = (tmp_path / EVENTS_FILE).read_text().splitlines()
    assert [line.split()[0] for line in events] == ["S", "E"] and events[1].split()[3:] == ["0", "-", "0"]
    assert os.path.basename(RUNNER_FILE) == "runner.pl" and argv[:2] == ["perl", "-t"]


def test_the_runner_is_strict_clean_perl(tmp_path):
    """Checked as a whole: what only a stop needs is compiled lazily from a string, so it is checked in place here."""
    text = open(RUNNER_FILE).read()
    opening, closing = "my $cold_code = <<'COLD';\n", "1;\nCOLD\n"
    assert opening in text and closing in text
    eager = tmp_path / "runner.pl"
    eager.write_text(text.replace(opening, "").replace(closing, "my $cold_code = '';\n"))
    checked = subprocess.run(["perl", "-Mstrict", "-Mwarnings", "-c", str(eager)], capture_output=True, text=True)
    assert (checked.returncode, checked.stderr.strip()) == (0, f"{eager} syntax OK")


def test_a_runner_ends_the_way_its_process_ended_without_a_core_file(tmp_path):
    """The process's own core file is the process's business; its runner, ending by the same signal, writes none."""
    with open("/proc/sys/kernel/core_pattern") as handle:
        if handle.read().strip() != "core":
            pytest.skip("core files do not land in the working directory on this machine")
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    runner_dir, process_dir = tmp_path / "runner", tmp_path / "process"
    runner_dir.mkdir()
    process_dir.mkdir()
    process = SimpleNamespace(key="p", restart_policy="Never",
                              argv=["sh", "-c", f"cd '{process_dir}' && kill -SEGV $$"])
    argv = runner_argv("perl", str(tmp_path / EVENTS_FILE), process, "r", 0.1, 1.0)
    result = subprocess.run(argv, cwd=runner_dir, capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (hard, hard)))
    assert result.returncode == -signal.SIGSEGV
    assert os.listdir(process_dir) == ["core"], "(cores are written here, so the check below can fail)"
    assert os.listdir(runner_dir) == []
    assert (tmp_path / EVENTS_FILE).read_text().splitlines()[-1].split()[3:] == ["-", str(int(signal.SIGSEGV)), "0"]


def run_with_shared(tmp_path, program, args, window_env, shared, execve):
    """Run the runner on ``program args`` in ``window_env`` (tmux's part) with the ``shared`` variables in
    their file; ``(result, the process's environment as it was executed, its argv)``."""
    shared_file = tmp_path / "shared.env"
    shared_file.write_text(TmuxPlan.shared_env_text(shared))
    out = tmp_path / "seen"
    process = SimpleNamespace(key="p", restart_policy="Never", argv=[program, str(out), *args])
    argv = runner_argv("perl", str(tmp_path / EVENTS_FILE), process, "r", 0.1, 1.0, drop_env="PERL_BADLANG",
                       shared_env=str(shared_file), execve=execve)
    result = subprocess.run(argv, env=window_env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            timeout=60)
    if not out.exists():
        return result, None, None
    environ, _, argv_seen = out.read_bytes().partition(b"\0\0ARGV\0")
    seen_env = dict(entry.split("=", 1) for entry in environ.decode().split("\0") if entry)
    return result, seen_env, argv_seen.decode().split("\0")[:-1]


@pytest.mark.parametrize("how", ["one execve", "set one by one"])
def test_the_runner_adds_the_shared_variables_and_finds_the_program_as_execvp(tmp_path, how):
    """The process gets the window's environment plus the shared file's (whose values win), found on PATH past
    a directory where the name is not executable, and, having no #! line, run by /bin/sh: as execvp does."""
    execve = execve_spec(shutil.which("perl")) if how == "one execve" else None
    if how == "one execve" and execve is None:
        pytest.skip("the execve system call's number is not known for this machine's Perl")
    denied, found = tmp_path / "denied", tmp_path / "bin"
    denied.mkdir()
    found.mkdir()
    (denied / "probe").write_text("exit 99\n")
    (denied / "probe").chmod(0o644)
    (found / "probe").write_text('cat /proc/$$/environ > "$1"; printf "\\0\\0ARGV\\0" >> "$1"; '
                                 'printf "%s\\0" "$0" "$@" >> "$1"\n')
    (found / "probe").chmod(0o755)
    window_env = {"PATH": f"{denied}:{found}:{os.environ['PATH']}", "SYMPH_RUN_ID": "r", "SYMPH_PROCESS": "p",
                  "SYMPH_S_PORT": "stale", "PERL_BADLANG": "0", "OTHER": "x y"}
    shared = {"SYMPH_S_ADDR": "127.0.0.1:1234", "SYMPH_S_PORT": "1234", "SYMPH_T_HOST": "a b=c\nd 'e' \"f\" $g"}
    result, seen_env, seen_argv = run_with_shared(tmp_path, "probe", ["two words", ""], window_env, shared, execve)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    expected = {name: value for name, value in window_env.items() if name != "PERL_BADLANG"}
    assert seen_env == {**expected, **shared}
    assert seen_argv == [str(found / "probe"), str(tmp_path / "seen"), "two words", ""]
    events = (tmp_path / EVENTS_FILE).read_text().splitlines()
    assert [line.split()[0] for line in events] == ["S", "E"] and events[1].split()[3:] == ["0", "-", "0"]


@pytest.mark.parametrize("how", ["one execve", "set one by one"])
def test_a_program_the_runner_cannot_execute_is_reported_as_execvp_reports_it(tmp_path, how):
    execve = execve_spec(shutil.which("perl")) if how == "one execve" else None
    if how == "one execve" and execve is None:
        pytest.skip("the execve system call's number is not known for this machine's Perl")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "locked").write_text("exit 0\n")
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "SYMPH_RUN_ID": "r", "SYMPH_PROCESS": "p"}
    for program, reason in (("no-such-program", "No such file or directory"), ("locked", "Permission denied"),
                            (str(tmp_path), "Permission denied")):
        result, _, _ = run_with_shared(tmp_path, program, [], env, {"SYMPH_S_PORT": "1"}, execve)
        assert (result.returncode, result.stderr) == (127, f"symphony: cannot run '{program}': {reason}\n")
        assert (tmp_path / EVENTS_FILE).read_text().splitlines()[-1].split()[3:] == ["127", "-", "0"]


def test_a_runner_whose_shared_variables_cannot_be_read_starts_nothing_and_says_so(tmp_path):
    marker = tmp_path / "ran"
    process = SimpleNamespace(key="p", restart_policy="Always", argv=["touch", str(marker)])
    missing = tmp_path / "gone" / "shared.env"
    argv = runner_argv("perl", str(tmp_path / EVENTS_FILE), process, "r", 0.1, 1.0, shared_env=str(missing),
                       execve=execve_spec(shutil.which("perl")))
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 127 and not marker.exists()
    assert result.stderr == (f"symphony: cannot read the experiment's shared variables from '{missing}': "
                             f"No such file or directory\n")
    assert (tmp_path / EVENTS_FILE).read_text().split()[0] == "E"


def test_the_execve_number_is_the_one_perl_itself_knows():
    perl = shutil.which("perl")
    known = subprocess.run([perl, "-e", 'require "syscall.ph"; print &SYS_execve'], capture_output=True, text=True)
    if known.returncode != 0 or not known.stdout.isdigit():
        pytest.skip("this Perl has no syscall.ph to compare with")
    spec = execve_spec(perl)
    assert spec is not None and spec.split(",")[0] == known.stdout
    assert spec.split(",")[1:4] == [str(errno.ENOEXEC), str(errno.EACCES), str(errno.ENOENT)]
    assert execve_spec(__file__) is None, "not an ELF binary: the runner sets the variables one by one"
