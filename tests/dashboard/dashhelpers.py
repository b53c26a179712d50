"""What the dashboard tests share: the dashboard as a child process, and whether Docker is usable."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

TEST_IMAGE = "symphony-test-base:latest"


class Dashboard:
    """One ``python -m symphony.dashboard`` child process, and what it printed."""

    def __init__(self, workdir, home, port=0, extra=()):
        self.workdir, self.home, self.port, self.extra = workdir, home, port, list(extra)
        self.proc = None

    def start(self, timeout=20):
        argv = [sys.executable, "-m", "symphony.dashboard", "--port", str(self.port), "--no-browser", *self.extra]
        self.proc = subprocess.Popen(argv, cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True, env={**os.environ, "SYMPHONY_HOME": self.home})
        line = self.proc.stdout.readline()
        match = re.search(r" at (http://\S+)", line)
        if not match:
            self.stop()
            raise AssertionError(f"the dashboard did not start: {line!r} {self.proc.stderr.read()!r}")
        self.url = match.group(1)
        self.base, self.token = self.url.split("/?token=")
        self.port = int(self.base.rsplit(":", 1)[1])
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"the dashboard at {self.base} never accepted a connection")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            self.proc.stdout.close()
            self.proc.stderr.close()


def docker_ready():
    """None if a Docker engine answers and has the test image, else why not."""
    try:
        import docker
        client = docker.from_env()
        client.ping()
        client.images.get(TEST_IMAGE)
    except Exception as exc:
        return f"no usable Docker engine ({exc}); run .ci/docker-up as root"
    return None
