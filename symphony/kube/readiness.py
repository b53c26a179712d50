"""Readiness on Kubernetes: checks as readinessProbes, waits as a TCP wait in the process's own image.

Checks. A declared check of a service a container binds or exposes becomes the container's
``readinessProbe`` (``tcpSocket``, ``httpGet`` or ``exec``), run by the kubelet, with
``periodSeconds``/``timeoutSeconds`` from its interval and timeout (whole seconds, at least
1: a shorter one is rounded up, and the plan says so) and ``failureThreshold``. Kubernetes
gives a container one readinessProbe, so a container providing several services is probed
with the first of its declared checks: the other services of that container are ready when
it is. The default check (no ``ready=``) gets no probe (see :func:`probe_check`).

Waits. A held process waits for each service to accept a TCP connection at its address:

* at the Service (``<service>:<port>``) when the provider runs in another pod. A Service
  whose check was declared routes only to ready pods (Kubernetes' default), so a connection
  is accepted only once the provider's probe passed; one whose check is the default TCP
  check keeps routing to not-ready pods too (a group member that finished would otherwise
  cut its pod's services), which is the same thing for a TCP check: the connection is
  refused until the port listens;
* at ``127.0.0.1:<port>`` when the provider is in the same pod (a group): the pod shares
  one network namespace, so the port is reached directly, whatever the pod's readiness (a
  pod is ready only when all its containers are, which a held member may never let happen
  if its own probe needs it started).

A standalone process waits in an init container (``symphony-wait``) running the process's
own image: its pod shows ``Init`` (``symphony p``: ``waiting``) until then. A process in a
group waits in its own container before its command (``exec``), since an init container
would hold every member of the pod, among them possibly the providers; such a member writes
``waiting``, then ``started`` just before its command, to a file of its own on a small
in-memory volume of the pod (``symphony-held``), and its ``startupProbe`` passes once the file
says ``started``: until then its container status says ``started: false``, which ``symphony
p`` shows as ``waiting``, as for a standalone process in ``Init``. Either way the wait
is the POSIX shell script below, run by the cluster's ``shell`` setting: it connects with
``bash``'s ``/dev/tcp``, ``nc -z``, ``python3`` or ``python``, whichever the image has.
At a wait's deadline, ``on_timeout='fail'`` ends the wait with exit 1 and the reason on one
line (the init container's termination message; the process never starts), ``'start'``
goes on with the process.
"""

import json
import math

#: the init container holding a standalone process until its services are ready
WAIT_CONTAINER = "symphony-wait"
#: pod annotation: container name -> the services it waits for (what ``symphony p`` shows while held)
WAITS_ANNOTATION = "symphony/waits"
#: pod annotation: container name -> the services whose readiness its readinessProbe stands for
CHECKS_ANNOTATION = "symphony/checks"
#: the pod volume where each waiting group member says whether its wait is over (see the module's docstring)
HELD_VOLUME = "symphony-held"
HELD_MOUNT = "/.symphony-held"
#: how long past its longest wait a group member's startupProbe tolerates "not started yet": the
#: script ends each wait within a few seconds of its deadline (then starts or exits), so this only
#: bounds a wait that hung, which the kubelet then restarts
STARTUP_MARGIN_SECONDS = 60

#: Waits for each (service, host, port, seconds, on_timeout) in "$@" up to a "--", then execs what follows (if
#: anything). A first ``--started-file PATH`` makes it write ``waiting`` there at once and ``started`` once
#: the waits are over. Deadlines count from when the script started; one attempt is bounded by ``timeout`` where it
#: exists. Written without ``$(`` and ``$$``, which the kubelet would expand in a command: it is sent verbatim.
WAIT_SCRIPT = r"""reach() {
  if command -v bash >/dev/null; then $bounded bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
  elif command -v nc >/dev/null; then $bounded nc -z -w 2 "$1" "$2" >/dev/null 2>&1
  elif command -v python3 >/dev/null; then python3 -c "$connect" "$1" "$2" 2>/dev/null
  elif command -v python >/dev/null; then python -c "$connect" "$1" "$2" 2>/dev/null
  else echo "symphony: cannot wait for $service: the image has none of bash, nc, python3, python" >&2; exit 1
  fi
}
connect='import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()'
started=
if [ "$1" = --started-file ]; then started=$2; shift 2; echo waiting > "$started"; fi
bounded=
if command -v timeout >/dev/null; then bounded='timeout 3'; fi
begun=`date +%s`
while [ "$#" -ge 5 ] && [ "$1" != -- ]; do
  service=$1 host=$2 port=$3 limit=$4 on_timeout=$5
  shift 5
  deadline=`expr "$begun" + "$limit"`
  echo "symphony: waiting for $service ($host:$port), at most ${limit}s" >&2
  until reach "$host" "$port"; do
    if [ "`date +%s`" -ge "$deadline" ]; then
      reason="$service ($host:$port) not ready after ${limit}s"
      if [ "$on_timeout" = fail ]; then
        echo "symphony: not started: $reason" >&2
        echo "not started: $reason" > /dev/termination-log 2>/dev/null
        exit 1
      fi
      echo "symphony: started anyway: $reason" >&2
      break
    fi
    sleep 1
  done
done
if [ -n "$started" ]; then echo started > "$started"; fi
[ "$#" -gt 0 ] && shift
[ "$#" -gt 0 ] && exec "$@"
exit 0"""


def whole_seconds(value):
    """Kubernetes counts probe periods and timeouts in whole seconds, at least 1."""
    return max(1, math.ceil(value - 1e-9))


def probe_check(checks):
    """The check a container's one readinessProbe runs: its first declared one, or None.

    The default check (the port accepts a connection) gets no probe: the kubelet would connect
    every second, and a server that takes one connection, as the hello ring's members do, would
    take the kubelet's for its peer's. Such a container is ready when it runs, as before."""
    return next((check for check in checks if check.declared), None)


def readiness_probe(check):
    """The ``readinessProbe`` of ``check`` (the kubelet runs it beside the container: the port only)."""
    if check.kind == "http":
        action = {"httpGet": {"path": check.path, "port": check.port}}
    elif check.kind == "command":
        action = {"exec": {"command": list(check.argv)}}
    else:
        action = {"tcpSocket": {"port": check.port}}
    return {**action, "periodSeconds": whole_seconds(check.interval), "timeoutSeconds": whole_seconds(check.timeout),
            "successThreshold": 1, "failureThreshold": check.failure_threshold}


def rounded_notes(process, check):
    """One line per setting rounded up to whole seconds, for the plan's header."""
    notes = []
    for what, value in (("interval", check.interval), ("timeout", check.timeout)):
        if whole_seconds(value) != value:
            notes.append(f"readiness check of {check.service!r} ({process.key}): {what} {value:g}s runs as "
                         f"{whole_seconds(value)}s (Kubernetes counts probe times in whole seconds)")
    return notes


def wait_arguments(process, local_services):
    """The wait script's arguments for ``process``'s waits: where to connect, for how long, and then what.

    ``local_services``: the services provided in the process's own pod (reached on 127.0.0.1).
    """
    args = []
    for wait in process.waits:
        host = "127.0.0.1" if wait.service in local_services else wait.host
        args += [wait.service, host, str(wait.port), str(math.ceil(wait.timeout)), wait.on_timeout]
    return args


def json_annotation(by_container):
    """A pod annotation's value: container name -> services, as compact JSON."""
    return json.dumps(by_container, sort_keys=True, separators=(",", ":"))


def started_file(container_name):
    """Where a waiting group member's wait says ``waiting``/``started`` (its startupProbe reads it)."""
    return f"{HELD_MOUNT}/{container_name}"


def startup_probe(shell, path, waits):
    """The ``startupProbe`` of a group member that waits: it passes once the wait wrote ``started``
    (the kubelet runs it every second; only the shell's builtins are used)."""
    longest = max(math.ceil(wait.timeout) for wait in waits)
    return {"exec": {"command": [shell, "-c", 'read state < "$0" && [ "$state" = started ]', path]},
            "periodSeconds": 1, "timeoutSeconds": 1, "successThreshold": 1,
            "failureThreshold": longest + STARTUP_MARGIN_SECONDS}


def not_started_reason(message):
    """The reason a wait gave up (``not started: ...``) in a container's termination message, else None."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return lines[-1] if lines and lines[-1].startswith("not started: ") else None
