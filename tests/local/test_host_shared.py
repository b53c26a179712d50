"""What the host backends (local, tmux) share, and the rules that keep it shared.

* no backend imports another: both build on :mod:`symphony.host`;
* one restart decision (:mod:`symphony.host.restarts`), and the local supervisor and the
  tmux window runner both reach the same answer with it;
* no SQL outside :mod:`symphony.state`;
* ``symphony ls`` / ``symphony p`` load neither psutil nor yaml.
"""

import ast
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import symphony
from symphony import Cluster
from symphony.host.restarts import (MAX_BACKOFF_SECONDS, STABLE_RUN_SECONDS, failures_in_a_row, restart_delay,
                                    should_restart)
from symphony.status import ProcessState
from waiting import process_gone, wait_for

PACKAGE = Path(symphony.__file__).parent


def sources(*parts):
    """``(dotted module name, parsed source)`` of every module under ``symphony/<parts>``."""
    for path in sorted(PACKAGE.joinpath(*parts).rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts)
        yield name, path, ast.parse(path.read_text(), str(path))


def imported_modules(module, path, tree):
    """Every module a source imports, anywhere in it (functions too), as absolute dotted names."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else node.module
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)  # `from .. import local`


# --- no backend imports another -------------------------------------------------------------
@pytest.mark.parametrize("folder, forbidden", [("tmux", ("symphony.local",)), ("local", ("symphony.tmux",)),
                                               ("host", ("symphony.local", "symphony.tmux"))])
def test_no_backend_module_imports_another_backend(folder, forbidden):
    found = [(module, name) for module, path, tree in sources(folder) for name in imported_modules(module, path, tree)
             if name.startswith(forbidden)]
    assert found == [], f"what both host backends use belongs in symphony/host: {found}"


def loaded_modules(code, *argv):
    """The modules loaded by a fresh interpreter running ``code`` (which may print a first JSON line)."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("modules, forbidden", [
    (("symphony.tmux.cluster", "symphony.tmux.runner", "symphony.tmux.log_index"), "symphony.local"),
    (("symphony.local.cluster", "symphony.local.supervisor"), "symphony.tmux"),
])
def test_loading_one_backend_loads_nothing_of_the_other(modules, forbidden):
    loaded = loaded_modules("\n".join(f"import {module}" for module in modules))
    assert set(modules) <= set(loaded)
    assert [name for name in loaded if name == forbidden or name.startswith(forbidden + ".")] == []


def test_both_host_backends_are_clusters_of_their_own():
    from symphony.cluster import Cluster as Base
    from symphony.host.cluster import HostCluster
    from symphony.local.cluster import LocalCluster
    from symphony.tmux.cluster import TmuxCluster
    for backend in (LocalCluster, TmuxCluster):
        assert issubclass(backend, HostCluster) and issubclass(backend, Base)
    assert not issubclass(TmuxCluster, LocalCluster) and not issubclass(LocalCluster, TmuxCluster)


# --- one restart decision ---------------------------------------------------------------------
#: how a run can end: (exit code, signal name); neither is an end nobody could observe
ENDINGS = {"exit 0": (0, None), "exit 1": (1, None), "SIGKILL": (None, "SIGKILL"), "unobserved": (None, None)}
RESTARTED = {  # policy -> the endings after which the process runs again
    "Never": set(),
    "OnFailure": {"exit 1", "SIGKILL", "unobserved"},
    "Always": set(ENDINGS),
}
CASES = [(policy, ending) for policy in RESTARTED for ending in ENDINGS]


@pytest.mark.parametrize("policy, ending", CASES)
def test_the_restart_rule(policy, ending):
    assert should_restart(policy, *ENDINGS[ending]) == (ending in RESTARTED[policy])


def test_an_unknown_policy_never_restarts():
    assert not any(should_restart(None, *end) for end in ENDINGS.values())


def test_the_backoff_doubles_per_quick_failure_up_to_its_cap_and_a_stable_run_resets_it():
    assert [restart_delay(1.0, failures) for failures in range(0, 8)] == [1, 1, 2, 4, 8, 16, MAX_BACKOFF_SECONDS,
                                                                           MAX_BACKOFF_SECONDS]
    assert failures_in_a_row(STABLE_RUN_SECONDS - 0.1, 3) == 4
    assert failures_in_a_row(STABLE_RUN_SECONDS, 3) == 0


def string_constants(tree):
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


@pytest.mark.parametrize("folder", ["local", "tmux"])
def test_no_backend_spells_the_restart_rule_out_itself(folder):
    spelled = [(module, word) for module, _, tree in sources(folder) for word in string_constants(tree) & {
        "Always", "OnFailure", "Never"}]
    assert spelled == [], "the restart decision is symphony.host.restarts.should_restart"


@pytest.mark.parametrize("module", ["symphony.local.supervisor", "symphony.tmux.runner"])
def test_every_place_that_decides_asks_the_one_rule(module):
    (_, path, tree), = [source for source in sources(*module.split(".")[1:-1]) if source[0] == module]
    assert "symphony.host.restarts.should_restart" in set(imported_modules(module, path, tree))


def restart_exp(cluster, policy):
    exp = cluster.new_experiment("rules")
    exp.new_process("p", command="true").restart_policy(policy)
    return exp


def code_of(ending):
    """The supervisor's view of an ending: the exit code, minus the signal, None if unobserved."""
    exit_code, killed_by = ENDINGS[ending]
    return -getattr(signal, killed_by) if killed_by else exit_code


class RecordingStore:
    """Just what the supervisor touches, for one process ``p``."""

    def __init__(self, home, plan=None):
        self.home = home
        self.updates = []
        self.row = plan and {"run_id": plan.run_id, "status": "running", "plan": json.dumps(plan.to_dict())}

    def get_experiment(self, backend, name):
        return self.row

    def get_process(self, backend, experiment, key):
        return {"started": time.time() - 1, "restarts": 0}

    def update_process(self, backend, experiment, key, **fields):
        self.updates.append(fields)

    def update_processes(self, backend, experiment, updates, experiment_fields=None):
        self.updates += list(updates.values())


@pytest.mark.parametrize("policy, ending", CASES)
def test_the_local_supervisor_decides_by_the_rule(policy, ending, tmp_path):
    from symphony.local.supervisor import Supervisor
    plan = Cluster.new("local", restart_backoff=0).plan(restart_exp(Cluster.new("local"), policy))
    store = RecordingStore(str(tmp_path))
    supervisor = Supervisor(store, plan)
    child = supervisor.children[0]
    child.pid, child.started = 1, time.time() - 1
    restarts = supervisor.finished(child, code_of(ending))["status"] == ProcessState.RESTARTING
    assert restarts == should_restart(policy, *ENDINGS[ending]) == (child.restart_at is not None)


@pytest.mark.parametrize("policy, ending", CASES)
def test_the_tmux_window_runner_decides_by_the_rule(policy, ending):
    from symphony.tmux import runner
    exit_code, killed_by = ENDINGS[ending]
    restart, failures, delay = runner.next_run(policy, exit_code, getattr(signal, killed_by) if killed_by else None,
                                               ran_for=1.0, failures=2, backoff=1.0)
    assert restart == should_restart(policy, exit_code, killed_by)
    assert (failures, delay) == ((3, restart_delay(1.0, 3)) if restart else (2, None))


def test_the_tmux_status_shows_the_runners_record_and_a_dead_window_never_restarting():
    """The runner records how a run ended before its backoff; once the runner is gone, nobody restarts."""
    from symphony.tmux.cluster import TmuxCluster
    now = time.time()
    proc = {"key": "p", "grp": "", "name": "p", "restarts": 1, "started": now - 2, "status": "restarting",
            "exit_code": 5, "signal": None, "finished": now - 1, "pid": None}
    live = SimpleNamespace(pane_dead="0", pane_dead_status="", pane_dead_signal="", pane_dead_time="", pane_pid="1")
    dead = SimpleNamespace(pane_dead="1", pane_dead_status="", pane_dead_signal="9", pane_dead_time=str(int(now)),
                           pane_pid="1")
    shown = TmuxCluster._status(proc, {"status": "running"}, {"p": live}, None)
    assert (shown.state, shown.exit_code, shown.finished) == (ProcessState.RESTARTING, 5, now - 1)
    assert shown.state_text(now).startswith("restarting (exit 5): ")
    shown = TmuxCluster._status(proc, {"status": "running"}, {"p": dead}, None)
    assert (shown.state, shown.exit_code) == (ProcessState.EXITED, 5)


# --- process lookup without psutil -------------------------------------------------------------
def test_proc_reads_agree_with_psutil():
    import psutil
    from symphony.host.processes import all_pids, is_alive, parent_pid, start_ticks
    since_boot = start_ticks(os.getpid()) / os.sysconf("SC_CLK_TCK")  # the start time, in ticks since boot
    assert abs(psutil.boot_time() + since_boot - psutil.Process().create_time()) <= 1
    assert start_ticks(None) is None
    assert parent_pid(os.getpid()) == os.getppid() and is_alive(os.getpid())
    assert os.getpid() in all_pids() and not is_alive(None)
    zombie = subprocess.Popen(["true"])
    wait_for(lambda: psutil.Process(zombie.pid).status() == psutil.STATUS_ZOMBIE)
    assert not is_alive(zombie.pid), "a zombie has ended"
    assert parent_pid(zombie.pid) == os.getpid()
    zombie.wait()


def test_a_recorded_process_is_its_pid_and_its_exact_start_ticks(monkeypatch):
    """Not the wall clock: stepping it an hour either way changes nothing, and a process that
    reused the pid (other start ticks) or a record without ticks (an older Symphony's) is not it."""
    from symphony.host import processes
    other = subprocess.Popen(["sleep", "60"])
    try:
        mine, theirs = processes.start_ticks(os.getpid()), processes.start_ticks(other.pid)
        wall = time.time
        for step in (0, 3600, -3600):
            monkeypatch.setattr(time, "time", lambda: wall() + step)
            assert processes.is_recorded_process(os.getpid(), mine)
            assert not processes.is_recorded_process(os.getpid(), mine + 1)
            assert not processes.is_recorded_process(other.pid, mine)
            assert processes.is_recorded_process(other.pid, theirs)
            assert not processes.is_recorded_process(os.getpid(), None)
        assert not hasattr(processes, "boot_time") and not hasattr(processes.ProcStat, "started")
    finally:
        other.kill()
        other.wait()
    assert not processes.is_recorded_process(other.pid, theirs), "ended"


def test_a_pending_restart_is_not_delayed_by_a_wall_clock_step(tmp_path, monkeypatch):
    """The restart is due ``restart_backoff`` seconds later by the monotonic clock, whatever the wall clock does."""
    from symphony.local.supervisor import Supervisor
    plan = Cluster.new("local", restart_backoff=0.2).plan(restart_exp(Cluster.new("local"), "Always"))
    supervisor = Supervisor(RecordingStore(str(tmp_path)), plan)
    child = supervisor.children[0]
    child.pid, child.started = 1, time.time() - 1
    restarted = []
    monkeypatch.setattr(supervisor, "spawn", lambda child: restarted.append(child))
    supervisor.finished(child, 1)
    wall = time.time
    monkeypatch.setattr(time, "time", lambda: wall() - 3600)  # an hour back while it waits
    assert supervisor.next_timeout() <= 0.5
    wait_for(lambda: supervisor.restart_due() or restarted, timeout=5)
    assert restarted == [child] and child.restarts == 1


# --- no SQL outside state.py --------------------------------------------------------------------
def test_only_the_state_store_speaks_sql():
    found = []
    for module, path, tree in sources():
        if module == "symphony.state":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("execute", "executemany", "executescript"):
                found.append(f"{module}:{node.lineno}")
        found += [f"{module} imports sqlite3" for name in imported_modules(module, path, tree)
                  if name == "sqlite3"]
    assert found == [], "give each query a named StateStore method in symphony/state.py"


# --- symphony ls / p stay light ------------------------------------------------------------------
LIST_AND_DESCRIBE = """
import json, sys
from symphony.local.cluster import LocalCluster
cluster = LocalCluster()
print(json.dumps({"names": cluster.list_experiments(),
                  "states": [s.state for s in cluster.describe_experiment(sys.argv[1])]}))
"""


def heavy(modules):
    return [name for name in modules if name.split(".")[0] in ("psutil", "yaml")]


@pytest.mark.slow
def test_listing_and_describing_load_neither_psutil_nor_yaml(local_cluster):
    exp = local_cluster.new_experiment("light")
    exp.new_process("a", "sleep 300")
    local_cluster.launch(exp)
    assert heavy(loaded_modules(LIST_AND_DESCRIBE, "light")) == []

    supervisor = local_cluster.store.get_experiment("local", "light")["supervisor_pid"]
    from symphony.host.processes import parent_pid
    guardian = parent_pid(supervisor)
    for pid in (guardian, supervisor):  # the guardian too, or it would replace the supervisor before the query
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: process_gone(pid))
    assert heavy(loaded_modules(LIST_AND_DESCRIBE, "light")) == [], "re-adopting the experiment too"
    assert local_cluster.store.get_experiment("local", "light")["adoptions"] == 1

    for argv in (["ls"], ["p", "light"]):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "symphony.cli", *argv],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line]
        # (the registry loads symphony.local.cluster through importlib, which -X importtime does not list;
        # the modules it imports with it are listed)
        assert "symphony.host.cluster" in imported and heavy(imported) == [], argv
    local_cluster.delete("light")


def test_following_a_process_that_ended_reads_on_until_its_log_is_still(tmp_path):
    """A line that reaches the log after the process's end is on record (tmux's pane pipe is still
    carrying it) is followed, when the backend asks for a settle time; without one it is not."""
    import threading
    import time

    from symphony.host.logs import read_log

    log = tmp_path / "p.log"
    log.write_bytes(b"first\n")

    def late_line():
        time.sleep(0.5)
        with open(log, "ab") as handle:
            handle.write(b"last\n")

    for settle, expected in ((0.0, ["first"]), (2.0, ["first", "last"])):
        log.write_bytes(b"first\n")
        writer = threading.Thread(target=late_line)
        writer.start()
        assert list(read_log(str(log), follow=True, still_running=lambda: False, settle=settle)) == expected
        writer.join()
