"""A Docker engine of a test's own, for fault tests that kill dockerd.

Killing the engine .ci/docker-up starts (its pid is in /tmp/symphony-ci-docker/dockerd.pid)
would break every other test using it at that moment, so a fault test starts a second
``dockerd`` the way .ci/docker-up starts the first (``setsid dockerd --data-root ...
--exec-root ... --pidfile ...``), but with its own socket, data, its own containerd, no
default bridge, no iptables rules and addresses from a range of its own, so the two engines
share nothing. It needs root (as .ci/docker-up does) and the ``dockerd`` binary.

It must not touch what the shared engine uses. dockerd deletes the host's ``docker0`` (the
shared engine's default network, which ``docker build`` uses) when it starts with
``--bridge=none``, and when it starts again with default address pools configured; so this
engine's default bridge is an interface of its own (made before it starts, removed by
``close()``), its configuration file is empty (no pools from /etc/docker/daemon.json), and
its networks take Docker's default pools, where dockerd skips any range this host already
routes.

``kill()`` is ``kill -9`` of that dockerd; ``start()`` brings it back on the same data, as
a restarted service would; ``close()`` stops it and removes everything it had.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time



def why_not_available():
    """None if a private engine can be started here, else why not (a sentence naming Docker)."""
    if shutil.which("dockerd") is None:
        return "no dockerd binary: a private Docker engine cannot be started (run .ci/docker-up as root)"
    if os.geteuid() != 0:
        return "a private Docker engine needs root (as .ci/docker-up)"
    if shutil.which("ip") is None:
        return "no ip command (iproute2) to make a private Docker engine's bridge"
    return None


def _argv0(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().split(b"\0")[0]
    except OSError:
        return b""


def _zombie(pid):
    """Whether ``pid`` has ended but is not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False  # gone


def _unused_octet():
    """N such that no address of this host is in 10.N.0.0/16 (N from 200 to 249)."""
    listing = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    for octet in range(200, 250):
        if f" 10.{octet}." not in listing:
            return octet
    raise RuntimeError("no free 10.N.0.0/16 range for a private Docker engine")


class PrivateEngine:
    def __init__(self):
        # short: containerd's socket lives under it and unix socket paths are limited to 108 bytes
        self.root = tempfile.mkdtemp(prefix="sd-", dir="/tmp")
        self.socket = os.path.join(self.root, "docker.sock")
        self.host = f"unix://{self.socket}"
        self.pidfile = os.path.join(self.root, "dockerd.pid")
        self.log = os.path.join(self.root, "dockerd.log")
        suffix = os.path.basename(self.root)[len("sd-"):]
        self.bridge = "sd" + "".join(c for c in suffix if c.isalnum())[:10]   # interface names: 15 bytes
        # its own in containerd too (mkdtemp's "_" may not start a containerd identifier's part)
        self.namespace = "symphony-test-" + "".join(c for c in suffix if c.isalnum())
        # its bridge's addresses: away from Docker's default pools and from any in use here
        self.octet = _unused_octet()
        self.process = None

    def command(self):
        return ["dockerd", "--data-root", os.path.join(self.root, "data"), "--exec-root", os.path.join(self.root, "x"),
                "--pidfile", self.pidfile, "--host", self.host, "--bridge", self.bridge, "--iptables=false",
                "--ip-masq=false", "--config-file", os.path.join(self.root, "daemon.json"),
                "--containerd-namespace", self.namespace, "--containerd-plugins-namespace", self.namespace + "-plugins"]

    def _make_bridge(self):
        if not os.path.exists(f"/sys/class/net/{self.bridge}"):
            for argv in (["ip", "link", "add", "name", self.bridge, "type", "bridge"],
                         ["ip", "addr", "add", f"10.{self.octet}.255.1/24", "dev", self.bridge],
                         ["ip", "link", "set", self.bridge, "up"]):
                subprocess.run(argv, check=True, capture_output=True)

    def start(self, timeout=60):
        """Start dockerd (again) on this engine's data and wait until it answers."""
        self._make_bridge()
        with open(os.path.join(self.root, "daemon.json"), "w") as config:
            config.write("{}\n")
        with open(self.log, "ab") as log:
            # its own session: the daemon must not get the test run's signals
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the private Docker engine did not start; its log:\n{self.tail_of_log()}")
            time.sleep(0.1)
        return self

    def client(self):
        import docker
        return docker.DockerClient(base_url=self.host, timeout=60)

    def answers(self):
        try:
            client = self.client()
            try:
                return client.ping()
            finally:
                client.close()
        except Exception:  # no socket yet, or not answering yet
            return False

    def kill(self, timeout=30):
        """``kill -9`` of dockerd; returns once it is gone, and so is the containerd that dies with it.

        (dockerd's containerd dies with it. A dockerd started again reuses the containerd whose pid
        its pid file names if that pid exists: until the dead one is reaped, by whatever adopts it,
        or if its pid is taken again meanwhile, it would wait in vain for it. A service manager
        reaps at once; here the pid file of a containerd that is gone is removed.)
        """
        containerd = [pid for pid in self.containerd_pids() if os.path.basename(_argv0(pid)) == b"containerd"]
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while any(_zombie(pid) for pid in containerd):
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd {containerd} of the killed dockerd was not reaped in {timeout} s")
            time.sleep(0.1)
        if not any(os.path.exists(f"/proc/{pid}") for pid in containerd):
            try:
                os.remove(os.path.join(self.root, "x", "containerd", "containerd.pid"))
            except FileNotFoundError:
                pass

    def containerd_pids(self):
        """The containerd dockerd started for this engine and its shims (they may outlive a killed dockerd)."""
        marker = os.path.join(self.root, "x", "containerd")
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as handle:
                        argv = handle.read().split(b"\0")
                except OSError:
                    continue
                if os.path.basename(argv[0]).startswith(b"containerd") and any(marker.encode() in a for a in argv):
                    pids.append(int(entry))
        return pids

    def close(self, timeout=60):
        """Stop dockerd (which stops its containers) and remove all of this engine's files."""
        if self.process is not None and self.process.poll() is not None:
            try:  # killed and not started again: start it, so it stops what still runs
                self.start()
            except RuntimeError:
                pass
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        for pid in self.containerd_pids():  # left by a dockerd that was killed and could not start again
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # whatever dockerd left mounted under its root (a killed one leaves overlays and shm mounts)
        with open("/proc/self/mounts") as handle:
            mounts = [line.split()[1] for line in handle]
        for mount in sorted((m for m in mounts if m.startswith(self.root + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        if os.path.exists(f"/sys/class/net/{self.bridge}"):
            subprocess.run(["ip", "link", "delete", self.bridge], check=False, capture_output=True)

    def tail_of_log(self, lines=30):
        try:
            with open(self.log, errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return "(no log)"
