"""The local supervisor's readiness checks and held starts.

The supervisor keeps one :class:`~symphony.readiness.ReadinessTracker` for every
service of the experiment and runs the checks itself, inside its one event loop:

* the default check (the port accepts a connection) looks whether a socket listens on the
  port, asking the kernel (``sock_diag``, once for every check due at that moment): no
  connection is made, so a server that serves or counts its connections never sees one;
* a declared TCP check is a non-blocking ``connect``: on loopback it is answered at once,
  otherwise its socket joins the loop's poll set until it connects, fails or times out. No
  check ever blocks the loop;
* an HTTP or command check runs in a short-lived thread (it may take up to its timeout),
  which hands its result back through a pipe the loop polls;
* a service is checked only while its provider runs: a provider that ended is not ready,
  and one that (re)starts is checked at once. A declared check then runs every interval
  for as long as the provider runs; the default one (the port accepts a connection) only
  until it passes, because the provider's end, which is what takes a port away, reaches
  the supervisor as an event anyway. So an experiment that declares no check costs a few
  looks per service and start, and its idle supervisor still wakes for nothing. While a
  process is held for a service with the default check, it is looked at every
  ``HELD_LOOK_INTERVAL`` (0.1 s: a look costs tens of microseconds and touches no server);
* a held process is started once every service it waits for is ready; at a wait's
  deadline, ``on_timeout='fail'`` leaves it not started (state ``failed``, with the one-line
  reason) and ``'start'`` starts it anyway.

What ``symphony p`` needs is written to the readiness document
(:mod:`symphony.host.readiness`) whenever it changes.
"""

import collections
import errno
import os
import select
import signal
import socket
import subprocess
import threading
import time
from types import SimpleNamespace

from ..host.readiness import READINESS_FILE, read_document, write_document
from ..readiness.probes import HELD_LOOK_INTERVAL, ProbeResult, listening_ports, probe, probe_listening
from ..readiness.tracker import ReadinessTracker

_UNREAD = object()
#: how many HTTP or command checks may run at once (each in a thread); more due ones wait their turn
MAX_THREADED_CHECKS = 16


class Held:
    """A process waiting for its first start."""

    __slots__ = ("waits", "since")

    def __init__(self, waits, since):
        self.waits, self.since = waits, since

    def deadline(self, wait):
        return self.since + wait.timeout


class Readiness:
    """Checks of every provided service and the held starts, for one supervisor (see the module's docstring).

    ``register(fd)``/``unregister(fd)`` add a file descriptor to the supervisor's poll set.
    """

    def __init__(self, children, path, now=None):
        now = time.time() if now is None else now
        self.path = path
        self.checks = {}          # service -> its check (as stored: see stored_check)
        self.provider = {}        # service -> Supervised
        self.provides = {}        # key -> [services]
        for child in children:
            for data in child.plan.checks:
                check = stored_check(data)
                self.checks[check.service] = check
                self.provider[check.service] = child
            if child.plan.checks:
                self.provides[child.plan.key] = [data["service"] for data in child.plan.checks]
        self.tracker = ReadinessTracker(self.checks.values(), now=now)
        self.active = set()       # services checked now: their provider runs (and, default check, not ready yet)
        self.in_flight = {}       # service -> socket (TCP) or "thread"
        self.sockets = {}         # fd -> (socket, check, deadline on the monotonic clock)
        self.results = collections.deque()   # (service, ok, detail) from the threads
        self.held = {}            # Supervised -> Held
        self.outcomes = {}        # key -> one line (not started, or started anyway)
        self.count = 0            # checks run
        self.dirty = True
        self.register = self.unregister = lambda fd: None
        self.children_lock = threading.Lock()
        self.command_children = {}   # pid -> [Event, exit code]: command checks running
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        self._carried = read_document(path) or {}  # a previous supervisor's (adoption): held since when, outcomes
        self.outcomes.update(self._carried.get("outcomes", {}))

    # --- holding ------------------------------------------------------------------------
    def hold(self, child, now=None):
        """Hold ``child`` until its services are ready; its deadlines count from now (or, for a
        supervisor that adopts the experiment, from when the previous one began holding it)."""
        now = time.time() if now is None else now
        since = self._carried.get("held", {}).get(child.plan.key, {}).get("since", now)
        self.held[child] = Held([stored_wait(data) for data in child.plan.waits], since)
        self.dirty = True

    def due_starts(self, now=None):
        """``(to start, to fail)``: held processes whose services are ready or whose deadline passed,
        each with the outcome's line (empty when every service was ready). They are held no more."""
        now = time.time() if now is None else now
        start, fail = [], []
        for child, held in list(self.held.items()):
            unmet = [wait for wait in held.waits if not self.tracker.is_ready(wait.service)]
            late = [wait for wait in unmet if now >= held.deadline(wait)]
            if not unmet:
                start.append((child, ""))
            elif any(wait.on_timeout == "fail" for wait in late):
                fail.append((child, self._reason("not started", late)))
            elif late and len(late) == len(unmet):
                start.append((child, self._reason("started anyway", late)))
            else:
                continue
            del self.held[child]
            self.dirty = True
        for child, reason in start + fail:
            if reason:
                self.outcomes[child.plan.key] = reason
        return start, fail

    def _waited_for(self, service):
        return any(wait.service == service for held in self.held.values() for wait in held.waits)

    def _reason(self, what, late):
        names = ", ".join(f"{wait.service} ({self.tracker.state(wait.service).detail})" for wait in late)
        return f"{what}: not ready after {max(wait.timeout for wait in late):g}s: {names}"

    # --- providers ----------------------------------------------------------------------
    def provider_started(self, child, now=None):
        """``child`` (re)started: its services are not ready until a check passes, checked at once."""
        for service in self.provides.get(child.plan.key, ()):
            self._cancel(service)
            self.tracker.reset(service, now=now)
            self.tracker.state(service).detail = "starting"
            self.active.add(service)
            self.dirty = True

    def provider_ended(self, child, now=None):
        """``child`` ended: a process that does not run serves nothing."""
        now = time.time() if now is None else now
        for service in self.provides.get(child.plan.key, ()):
            self._cancel(service)
            self.active.discard(service)
            state = self.tracker.state(service)
            if state.ready:
                state.ready, state.since = False, now
            state.consecutive_failures, state.detail = 0, "not running"
            self.dirty = True

    def _cancel(self, service):
        handle = self.in_flight.pop(service, None)
        if isinstance(handle, socket.socket):
            fd = handle.fileno()
            self.unregister(fd)
            self.sockets.pop(fd, None)
            handle.close()

    # --- running checks -----------------------------------------------------------------
    def run_due(self, environment_of, now=None):
        """Start every due check of an active service that is not being checked already."""
        now = time.time() if now is None else now
        threaded = sum(1 for handle in self.in_flight.values() if handle == "thread")
        ports = _UNREAD
        for service in list(self.active):
            state = self.tracker.state(service)
            if state.next_due > now or service in self.in_flight:
                continue
            check = state.check
            self.count += 1
            if check.kind == "tcp" and not check.declared:
                if ports is _UNREAD:
                    ports = listening_ports()  # (once for every default check due now)
                if ports is None:
                    self._connect(check)
                else:
                    outcome = probe_listening(check, ports)
                    self.result(service, outcome.ok, outcome.detail)
            elif check.kind == "tcp":
                self._connect(check)
            elif threaded < MAX_THREADED_CHECKS:
                threaded += 1
                self.in_flight[service] = "thread"
                env, cwd = environment_of(self.provider[service]) if check.kind == "command" else (None, None)
                threading.Thread(target=self._threaded, args=(check, env, cwd), daemon=True).start()

    def _connect(self, check):
        sock = socket.socket(socket.AF_INET6 if ":" in check.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            code = sock.connect_ex((check.host, check.port))
        except OSError as exc:  # (a host name that does not resolve)
            code = exc.errno or errno.EHOSTUNREACH
        if code in (errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
            fd = sock.fileno()
            self.in_flight[check.service] = sock
            self.sockets[fd] = (sock, check, time.monotonic() + check.timeout)
            self.register(fd)
            return
        sock.close()
        self._record(check, code)

    def _record(self, check, code):
        if code == 0:
            self.result(check.service, True, "accepts connections")
        else:
            self.result(check.service, False, f"{check.host}:{check.port}: {os.strerror(code).lower()}")

    def socket_event(self, fd):
        """A pending TCP check's socket became writable (connected or failed)."""
        sock, check, _ = self.sockets.pop(fd)
        self.unregister(fd)
        del self.in_flight[check.service]
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        sock.close()
        self._record(check, code)

    def _threaded(self, check, env, cwd):
        try:
            outcome = self._run_command(check, env, cwd) if check.kind == "command" else probe(check)
            result = (check.service, outcome.ok, outcome.detail)
        except Exception as exc:  # (a probe must never take the supervisor down)
            result = (check.service, False, f"check failed: {exc}")
        self.results.append(result)
        try:
            os.write(self.wake_write, b".")
        except OSError:
            pass

    def _run_command(self, check, env, cwd):
        """One attempt of a command check, in a session of its own (killed with all it started at the
        timeout). Its end is reaped by the supervisor, whose every child's is (:meth:`reaped`): the
        thread takes its exit status from there."""
        begun = time.monotonic()
        with self.children_lock:  # (registered before the supervisor can see it end)
            try:
                child = subprocess.Popen(list(check.argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
            except OSError as exc:
                return ProbeResult(False, f"{check.argv[0]}: {os.strerror(exc.errno).lower() if exc.errno else exc}",
                                   time.monotonic() - begun)
            child.returncode = 0  # the supervisor reaps it; keep Popen from trying
            ended = self.command_children[child.pid] = [threading.Event(), None]
        output, timed_out = b"", False
        with child.stdout:
            while True:
                left = begun + check.timeout - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                readable, _, _ = select.select([child.stdout], [], [], left)
                if not readable:
                    continue
                chunk = os.read(child.stdout.fileno(), 4096)
                if not chunk:
                    break
                output = (output + chunk)[-4096:]
        if not timed_out:
            timed_out = not ended[0].wait(max(0.0, begun + check.timeout - time.monotonic()))
        if timed_out:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except OSError:
                pass
            ended[0].wait(5.0)
            return ProbeResult(False, f"{check.argv[0]}: timed out after {check.timeout:g}s", time.monotonic() - begun)
        code = ended[1]
        if code == 0:
            return ProbeResult(True, "exit 0", time.monotonic() - begun)
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit {code}"
        lines = output.decode("utf-8", "replace").strip().splitlines()
        return ProbeResult(False, f"{how}: {lines[-1][:200]}" if lines else how, time.monotonic() - begun)

    def reaped(self, pid, code):
        """The supervisor reaped ``pid``: True if it was a command check's (its thread is told how it ended)."""
        with self.children_lock:
            ended = self.command_children.pop(pid, None)
        if ended is None:
            return False
        ended[1] = code
        ended[0].set()
        return True

    def is_check(self, pid):
        with self.children_lock:
            return pid in self.command_children

    def collect(self):
        """Take the results the threads handed back (the wake pipe fired)."""
        try:
            while os.read(self.wake_read, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        while self.results:
            service, ok, detail = self.results.popleft()
            if self.in_flight.get(service) == "thread":
                del self.in_flight[service]
                self.result(service, ok, detail)

    def expire(self, now_monotonic=None):
        """Fail the TCP checks whose timeout passed without an answer."""
        now_monotonic = time.monotonic() if now_monotonic is None else now_monotonic
        for fd, (sock, check, deadline) in list(self.sockets.items()):
            if deadline <= now_monotonic:
                self._cancel(check.service)
                self.result(check.service, False, f"{check.host}:{check.port}: timed out")

    def result(self, service, ok, detail, now=None):
        if service not in self.active:
            return  # its provider ended or restarted meanwhile: a stale answer
        state = self.tracker.state(service)
        before = (state.failures, state.detail)  # (the document shows both: a change in either is written)
        if self.tracker.record(service, ok, detail, now=now) or (state.failures, state.detail) != before:
            self.dirty = True
        if ok and not state.check.declared:
            self.active.discard(service)  # (see the module's docstring: its provider's end is the event now)
        elif not ok and not state.check.declared and self._waited_for(service):
            state.next_due = min(state.next_due, (time.time() if now is None else now) + HELD_LOOK_INTERVAL)

    # --- timing -------------------------------------------------------------------------
    def next_deadline(self, now=None):
        """The nearest time (``time.time()``) something is due: a check, a held process's deadline;
        None if nothing is (only events then)."""
        deadlines = [self.tracker.state(service).next_due for service in self.active if service not in self.in_flight]
        for held in self.held.values():
            deadlines += [held.deadline(wait) for wait in held.waits]
        if self.sockets:
            now = time.time() if now is None else now
            deadlines += [now + (deadline - time.monotonic()) for _, _, deadline in self.sockets.values()]
        return min(deadlines) if deadlines else None

    # --- what `symphony p` reads --------------------------------------------------------
    def document(self):
        services = {service: {"ready": state.ready, "since": state.since, "failures": state.failures,
                              "detail": state.detail}
                    for service, state in self.tracker.services.items()}
        held = {child.plan.key: {"waits": [wait.service for wait in entry.waits], "since": entry.since}
                for child, entry in self.held.items()}
        return {"services": services, "provides": self.provides, "held": held, "outcomes": self.outcomes,
                "checks": self.count}

    def flush(self):
        if self.dirty:
            self.dirty = False
            write_document(self.path, self.document())

    def close(self):
        for service in list(self.in_flight):
            self._cancel(service)
        for fd in (self.wake_read, self.wake_write):
            try:
                os.close(fd)
            except OSError:
                pass


def stored_check(data):
    """A check of the stored plan (``ResolvedCheck.to_dict()``) with the attributes of the
    :class:`~symphony.resolution.resolved.ResolvedCheck` it was (all the probes and the tracker read).

    Read back as a namespace, not as that class: the resolved stage's module brings the model's
    command and address types and :mod:`dataclasses` (with :mod:`inspect` and :mod:`ast`), more than
    the rest of the checks together, into a supervisor that only reads these values."""
    return SimpleNamespace(**{**data, "argv": tuple(data["argv"])})


def stored_wait(data):
    """A wait of the stored plan (``ResolvedWait.to_dict()``), read back as :func:`stored_check` is."""
    return SimpleNamespace(**{**data, "check": stored_check(data["check"])})


def readiness_path(plan):
    return os.path.join(os.path.dirname(plan.processes[0].log_path), READINESS_FILE)

