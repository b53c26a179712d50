"""What an experiment left behind, engine by engine: the checks behind "nothing started".

* every backend: state rows naming the experiment, and live processes of it (every process
  Symphony starts carries ``SYMPH_EXPERIMENT`` and, on host backends, ``SYMPH_RUN_ID``:
  containers' processes are this host's processes too, so a scan of every process's
  environment finds them, even daemons a failed launch lost track of);
* tmux: the sessions (and their windows) of a private tmux server;
* Docker: containers, networks and volumes labelled ``symphony.experiment=<name>``;
* Kubernetes: whatever was written to the fake API server (tests/kube/fake_apiserver.py).
"""

import os
import subprocess
import sys

import psutil

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
for _helpers in ("docker", "kube"):  # dockerhelpers, fake_apiserver
    if os.path.join(TESTS_DIR, _helpers) not in sys.path:
        sys.path.append(os.path.join(TESTS_DIR, _helpers))


# --- every backend ------------------------------------------------------------------------
def scan(**markers):
    """Pids of live processes whose environment has every ``NAME=value`` in ``markers``."""
    wanted = {f"{name}={value}".encode() for name, value in markers.items()}
    found = []
    for pid in psutil.pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                entries = set(handle.read().split(b"\0"))
            if wanted <= entries and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except (OSError, psutil.Error):
            pass
    return found


def experiment_pids(name, run_ids=()):
    """Live processes of experiment ``name``: by SYMPH_EXPERIMENT, and by each run id given."""
    pids = set(scan(SYMPH_EXPERIMENT=name))
    for run_id in run_ids:
        pids |= set(scan(SYMPH_RUN_ID=run_id))
    return sorted(pids)


def state_rows(home, name):
    """Rows of every state table that mention experiment ``name``."""
    from symphony.state import StateStore
    if not os.path.exists(os.path.join(home, "state.db")):
        return []  # nothing ever touched the state
    store = StateStore(str(home))
    try:
        return [tuple(row) for table, column in (("experiments", "name"), ("processes", "experiment"),
                                                  ("ports", "experiment"))
                for row in store.db.execute(f"SELECT * FROM {table} WHERE {column} = ?", (name,))]
    finally:
        store.close()


def run_ids(home, name):
    """Run ids the state records for experiment ``name`` (on any backend)."""
    from symphony.state import StateStore
    if not os.path.exists(os.path.join(home, "state.db")):
        return []
    store = StateStore(str(home))
    try:
        return [row["run_id"] for row in store.db.execute("SELECT run_id FROM experiments WHERE name = ?", (name,))
                if row["run_id"]]
    finally:
        store.close()


def host_leftovers(home, name):
    """State rows of ``name`` and its live processes (found by its name and its run ids), described."""
    rows = state_rows(home, name)
    pids = experiment_pids(name, run_ids(home, name))
    return [f"state row {row}" for row in rows] + [f"process {pid} ({_cmdline(pid)})" for pid in pids]


def _cmdline(pid):
    try:
        return " ".join(psutil.Process(pid).cmdline())[:80]
    except psutil.Error:
        return "gone"


# --- tmux ---------------------------------------------------------------------------------
def tmux_windows(server_name):
    """``session:window`` of every window on tmux server ``server_name`` ([] when no server runs)."""
    result = subprocess.run(["tmux", "-L", server_name, "list-windows", "-a", "-F", "#{session_name}:#{window_name}"],
                            capture_output=True, text=True)
    return result.stdout.split() if result.returncode == 0 else []


def stop_tmux_server(name):
    """Kill the private tmux server ``name`` and remove the socket file tmux leaves behind."""
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)
    socket = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", name)
    if os.path.exists(socket):
        os.unlink(socket)


# --- Docker -------------------------------------------------------------------------------
def docker_leftovers(client, name):
    """Containers, networks and volumes labelled ``symphony.experiment=<name>``, described."""
    from dockerhelpers import leftovers
    return [f"{type(item).__name__.lower()} {item.name}" for item in leftovers(client, name)]


# --- Kubernetes (the fake API server) --------------------------------------------------------
def kube_writes(api):
    """Every request but a read that reached the fake API server, and every namespace it holds."""
    writes = [f"{method} {path} -> {status}" for method, path, _, _, status in api.requests if method != "GET"]
    return writes + [f"namespace {name}" for name in api.namespaces]
