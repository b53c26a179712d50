"""``symphony visit`` without a load balancer: a ``kubectl port-forward`` on 127.0.0.1, kept running.

Each forward is recorded under ``$SYMPHONY_HOME/kube-port-forwards/<experiment>/``
(``<service>.json``: its pid and URL; ``<service>.log``: kubectl's output), so the
next ``visit`` reuses it and ``delete`` stops it, from any terminal.
"""

import json
import os
import shutil
import signal
import subprocess
import time

from ..errors import SymphonyError


def forward_dir(experiment):
    """The private directory of ``experiment``'s forwards (created)."""
    from ..state import private_dir, symphony_home
    return private_dir(os.path.join(symphony_home(), "kube-port-forwards", experiment))


def port_forward(kubectl, experiment, service, port, timeout=30.0):
    """Start (or reuse) ``kubectl port-forward`` to the service; return its local URL.
    ``kubectl(*args)`` is the kubectl argv for the cluster."""
    record = os.path.join(forward_dir(experiment), f"{service}.json")
    previous = _read_json(record)
    if previous and _forward_running(previous["pid"]):
        return previous["url"]
    log_path = record[:-5] + ".log"
    with open(log_path, "wb") as log:
        forward = subprocess.Popen(
            kubectl("port-forward", "-n", experiment, "--address", "127.0.0.1", f"service/{service}", f":{port}"),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as log:
            text = log.read()
        for line in text.splitlines():
            if line.startswith("Forwarding from 127.0.0.1:"):
                local_port = line.split("127.0.0.1:", 1)[1].split()[0]
                url = f"http://127.0.0.1:{local_port}"
                with open(record, "w") as handle:
                    json.dump({"pid": forward.pid, "url": url}, handle)
                return url
        if forward.poll() is not None:
            raise SymphonyError(f"kubectl port-forward to {service!r} failed: {text.strip()[-300:]}")
        time.sleep(0.1)
    forward.kill()
    forward.wait()
    raise SymphonyError(f"kubectl port-forward to {service!r} did not start in {timeout:.0f}s")


def stop_port_forwards(experiment):
    """Stop every forward of ``experiment`` and forget them."""
    directory = forward_dir(experiment)
    for entry in os.listdir(directory):
        record = _read_json(os.path.join(directory, entry)) if entry.endswith(".json") else None
        if record and _forward_running(record["pid"]):
            os.kill(record["pid"], signal.SIGTERM)
    shutil.rmtree(directory, ignore_errors=True)


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _forward_running(pid):
    """Is ``pid`` still our kubectl port-forward (and not a reused pid)?"""
    import psutil  # (only here: visit and delete; kubectl may run on a machine without /proc)
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "port-forward" in process.cmdline()
    except psutil.Error:
        return False
