"""Faults during a run: processes killed with SIGKILL, the tmux server killed, dockerd restarted.

After each, the ``symphony`` verbs still work (``p``, ``logs``, ``delete``, run through the
real command-line entry point), and ``delete`` leaves no process (pid scan) and no container.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from symphony.cli.main import main as symphony
from symphony.config import SymphonyConfig
from symphony.errors import BackendUnavailableError

from hardeninghelpers import BASE_IMAGE, experiment_pids, process_pid, wait_for

pytestmark = pytest.mark.slow


def cli(capsys, *argv):
    """Run ``symphony argv...`` in this process; (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = symphony(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def processes(capsys, backend, name):
    code, out, err = cli(capsys, "p", "-b", backend, "-o", "json", name)
    assert code == 0, err
    return {p["key"]: p for p in json.loads(out)["processes"]}


def log_lines(capsys, backend, name, key):
    code, out, err = cli(capsys, "logs", "-b", backend, key, name)
    assert code == 0, err
    return out.splitlines()


def delete(capsys, backend, name):
    code, _, err = cli(capsys, "delete", "-f", "-b", backend, name)
    assert code == 0, err
    assert experiment_pids(name) == [], "delete leaves no process"


def kill_experiment(cluster, name):
    exp = cluster.new_experiment(name)
    image = {"container_image": BASE_IMAGE} if cluster.backend_name == "docker" else {}
    exp.new_process("victim", cmds=["echo started", "exec sleep 600"], **image).restart_policy("OnFailure")
    exp.new_process("bystander", cmds=["echo started", "exec sleep 600"], **image).restart_policy("Never")
    return exp


def check_kill_nine(capsys, cluster, name):
    """kill -9 both processes: the OnFailure one is restarted, the Never one stays killed (SIGKILL)."""
    backend = cluster.backend_name
    cluster.launch(kill_experiment(cluster, name))
    victim, bystander = process_pid(name, "victim"), process_pid(name, "bystander")
    wait_for(lambda: log_lines(capsys, backend, name, "victim") == ["started"])
    os.kill(victim, signal.SIGKILL)
    os.kill(bystander, signal.SIGKILL)
    wait_for(lambda: processes(capsys, backend, name)["bystander"]["state"] == "killed")
    status = processes(capsys, backend, name)["bystander"]
    assert (status["signal"], status["restarts"]) == ("SIGKILL", 0)
    wait_for(lambda: (p := processes(capsys, backend, name)["victim"])["restarts"] == 1 and p["state"] == "running")
    assert process_pid(name, "victim") != victim
    wait_for(lambda: log_lines(capsys, backend, name, "victim") == ["started", "started"])
    code, out, _ = cli(capsys, "p", "-b", backend, name)
    assert code == 0 and "killed (SIGKILL)" in out
    delete(capsys, backend, name)


def test_kill_nine_on_local(capsys, local_cluster):
    check_kill_nine(capsys, local_cluster, "killed")
    assert local_cluster.list_experiments() == []


@pytest.mark.tmux
def test_kill_nine_on_tmux(capsys, tmux_cluster, server_name):
    SymphonyConfig().set_backend_kwargs("tmux", server_name=server_name, grace=1.0, restart_backoff=0.2)
    check_kill_nine(capsys, tmux_cluster, "killed")
    assert tmux_cluster.list_experiments() == []


@pytest.mark.docker
def test_kill_nine_on_docker(capsys, docker_cluster, docker_client, new_name):
    from dockerhelpers import leftovers
    SymphonyConfig().set_backend_kwargs("docker", internal_network=True, stop_timeout=1)
    name = new_name()
    check_kill_nine(capsys, docker_cluster, name)
    assert leftovers(docker_client, name) == []


@pytest.mark.tmux
def test_tmux_server_killed_then_verbs_work_and_delete_stops_survivors(capsys, tmux_cluster, server_name):
    """A process that ignores SIGHUP does not outlive the tmux server (its window's runner stops it), and the
    verbs still work."""
    SymphonyConfig().set_backend_kwargs("tmux", server_name=server_name, grace=1.0)
    exp = tmux_cluster.new_experiment("orphaned")
    exp.new_process("plain", cmds=["echo plain", "exec sleep 600"])
    exp.new_process("survivor", cmds=["trap '' HUP", "echo survivor", "sleep 600 & wait"])
    tmux_cluster.launch(exp)
    for key in ("survivor", "plain"):  # both have written their line before the server goes
        wait_for(lambda: log_lines(capsys, "tmux", "orphaned", key) == [key])
    assert subprocess.run(["tmux", "-L", server_name, "kill-server"]).returncode == 0
    wait_for(lambda: experiment_pids("orphaned") == [])  # the survivor too, once the grace period is over
    assert {p["state"] for p in processes(capsys, "tmux", "orphaned").values()} == {"lost"}
    assert log_lines(capsys, "tmux", "orphaned", "plain") == ["plain"]
    delete(capsys, "tmux", "orphaned")
    assert tmux_cluster.list_experiments() == []


# --- dockerd restarted ------------------------------------------------------------------------
class PrivateDockerd:
    """A dockerd of this test's own, started (and restarted) the way .ci/docker-up starts the shared one.

    Restarting the shared engine would stop every container of the other tests running on
    this machine, so the restart happens on a second engine: same binary and flags as
    .ci/docker-up (``dockerd --data-root --exec-root --pidfile``, in a session of its own),
    plus a socket of its own, run inside a network namespace of its own. The namespace is
    not optional: a second dockerd in the host's namespace deletes or rewires ``docker0``
    and the iptables chains the shared engine relies on.
    """

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="symph-dockerd.", dir="/tmp")
        self.host = f"unix://{self.root}/docker.sock"
        self.netns = os.path.basename(self.root)
        subprocess.run(["ip", "netns", "add", self.netns], check=True, capture_output=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True, capture_output=True)
        # nsenter, not `ip netns exec`: that also remounts /sys, hiding the cgroups dockerd needs
        self.argv = ["nsenter", f"--net=/run/netns/{self.netns}", shutil.which("dockerd"), "--data-root", f"{self.root}/data",
                     "--exec-root", f"{self.root}/exec", "--pidfile", f"{self.root}/dockerd.pid",
                     "--host", self.host, "--shutdown-timeout", "3"]
        self.daemon = None

    def start(self):
        with open(f"{self.root}/dockerd.log", "ab") as log:
            self.daemon = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                           start_new_session=True)
        wait_for(self.answers, timeout=60, interval=0.2)

    def answers(self):
        import docker
        try:
            return docker.DockerClient(base_url=self.host, timeout=5).ping()
        except docker.errors.DockerException:
            assert self.daemon.poll() is None, f"dockerd exited; see {self.root}/dockerd.log"
            return False

    def stop(self):
        self.daemon.terminate()
        self.daemon.wait(timeout=60)

    def remove(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.stop()
        with open("/proc/mounts") as mounts:
            below = sorted((line.split()[1] for line in mounts if f" {self.root}/" in line), reverse=True)
        for mount_point in below:
            subprocess.run(["umount", "-l", mount_point], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True)


@pytest.fixture(scope="module")
def private_dockerd(docker_client):
    if os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("dockerd", "ip", "nsenter")):
        pytest.skip("restarting a Docker engine needs root, dockerd, ip and nsenter (run .ci/docker-up as root first)")
    engine = PrivateDockerd()
    try:
        engine.start()
        import docker
        client = docker.DockerClient(base_url=engine.host)
        client.images.load(b"".join(docker_client.images.get(BASE_IMAGE).save(named=True)))
        client.close()
        yield engine
    finally:
        engine.remove()


@pytest.mark.docker
def test_dockerd_restarted_during_an_experiment(capsys, private_dockerd, monkeypatch):
    import docker
    from dockerhelpers import docker_cluster, leftovers
    monkeypatch.setenv("DOCKER_HOST", private_dockerd.host)
    SymphonyConfig().set_backend_kwargs("docker", internal_network=True, stop_timeout=1)
    cluster = docker_cluster()
    exp = cluster.new_experiment("restarted")
    exp.new_process("keeper", container_image=BASE_IMAGE, cmds=["echo up", "exec sleep 600"]).restart_policy("Always")
    exp.new_process("oneshot", container_image=BASE_IMAGE, cmds=["echo once", "exec sleep 600"]).restart_policy("Never")
    cluster.launch(exp)
    wait_for(lambda: log_lines(capsys, "docker", "restarted", "keeper") == ["up"])
    private_dockerd.stop()
    code, _, err = cli(capsys, "p", "-b", "docker", "restarted")
    assert code == 1 and "Traceback" not in err and err.endswith("start dockerd or point DOCKER_HOST at a running engine\n"), err
    with pytest.raises(BackendUnavailableError, match="start dockerd"):
        cluster.describe_experiment("restarted")  # a cluster object connected before the engine went away
    private_dockerd.start()
    wait_for(lambda: processes(capsys, "docker", "restarted")["keeper"]["state"] == "running")
    after = processes(capsys, "docker", "restarted")
    assert after["oneshot"]["state"] in ("exited", "killed"), after["oneshot"]
    wait_for(lambda: log_lines(capsys, "docker", "restarted", "keeper") == ["up", "up"])
    assert log_lines(capsys, "docker", "restarted", "oneshot") == ["once"]
    delete(capsys, "docker", "restarted")
    client = docker.DockerClient(base_url=private_dockerd.host)
    assert leftovers(client, "restarted") == [] and client.containers.list(all=True) == []


# --- the wall clock steps during a run ---------------------------------------------------------
#: ``sitecustomize`` for the supervisors this test starts: their ``time.time()`` is the wall clock
#: shifted by the seconds written in the file $SYMPHONY_TEST_CLOCK_SHIFT names, which the test steps
SHIFTED_CLOCK = '''\
import os
import time

_path, _wall = os.environ.get("SYMPHONY_TEST_CLOCK_SHIFT"), time.time


def _shifted():
    try:
        with open(_path) as handle:
            return _wall() + float(handle.read())
    except (OSError, TypeError, ValueError):
        return _wall()


if _path:
    time.time = _shifted
'''


def test_a_wall_clock_step_mistakes_no_process_for_another(capsys, local_cluster, tmp_path, monkeypatch):
    """The wall clock jumps an hour ahead, then an hour back (NTP, a suspend and resume) while an
    experiment runs, in this process and in its supervisors: a restart, the re-adoption after the
    supervisor is killed and delete still find exactly the processes that were started (one of them
    cleared its environment, so only its recorded identity finds it): none is lost, started twice
    or left running."""
    import time

    import psutil
    from waiting import process_gone

    site = tmp_path / "shifted-clock"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SHIFTED_CLOCK)
    shift = tmp_path / "clock-shift"
    shift.write_text("0")
    monkeypatch.setenv("SYMPHONY_TEST_CLOCK_SHIFT", str(shift))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])))
    wall = time.time
    monkeypatch.setattr(time, "time", lambda: wall() + float(shift.read_text() or 0))  # this process's clock too
    SymphonyConfig().set_backend_kwargs("local", grace=1.0, restart_backoff=0.2)

    def sleeping(seconds):
        """Live ``sleep <seconds>`` processes (each process of the experiment sleeps its own length)."""
        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            if proc.info["cmdline"] == ["sleep", seconds] and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        return found

    scrubbed_for, marked_for = (str(10 ** 6 + int.from_bytes(os.urandom(3), "big")) for _ in range(2))
    exp = local_cluster.new_experiment("stepped")
    exp.new_process("scrubbed", cmds=[f"exec env -i sleep {scrubbed_for}"]).restart_policy("OnFailure")
    exp.new_process("marked", cmds=[f"exec sleep {marked_for}"]).restart_policy("OnFailure")
    local_cluster.launch(exp)
    first = wait_for(lambda: (pids := sleeping(scrubbed_for)) and len(pids) == 1 and pids[0])
    marked = wait_for(lambda: (pids := sleeping(marked_for)) and len(pids) == 1 and pids[0])

    shift.write_text("3600")  # an hour ahead: the restart is recorded by this clock
    os.kill(first, signal.SIGKILL)
    second = wait_for(lambda: (p := processes(capsys, "local", "stepped")["scrubbed"])["restarts"] == 1
                      and p["state"] == "running" and sleeping(scrubbed_for) == [p["pid"]] and p["pid"])

    shift.write_text("-3600")  # an hour behind: the adopting supervisor and delete run by this clock
    supervisor = local_cluster.store.get_experiment("local", "stepped")["supervisor_pid"]
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: process_gone(supervisor))
    adopted = processes(capsys, "local", "stepped")  # the guardian (or this query) starts a new supervisor
    wait_for(lambda: local_cluster.store.get_experiment("local", "stepped")["adoptions"] == 1)
    os.kill(marked, signal.SIGKILL)  # its restart shows that the new supervisor has been polling since
    wait_for(lambda: (p := processes(capsys, "local", "stepped")["marked"])["restarts"] == 1
             and p["state"] == "running" and p["pid"] != marked)
    scrubbed = processes(capsys, "local", "stepped")["scrubbed"]
    assert (scrubbed["state"], scrubbed["pid"], scrubbed["restarts"]) == ("running", second, 1), (adopted, scrubbed)
    assert sleeping(scrubbed_for) == [second], "adopted, not reported lost and started a second time"
    assert len(sleeping(marked_for)) == 1

    delete(capsys, "local", "stepped")
    wait_for(lambda: sleeping(scrubbed_for) == [] and sleeping(marked_for) == [])
