"""A ZeroMQ proxy: one stable address in the middle of many-to-many traffic.

Both sides of the proxy bind; everything else connects to it, so neither side
needs to know the other's addresses and either can come and go.

==================  =========================  ==========================================
pattern             frontend (who connects)    backend (who connects)
==================  =========================  ==========================================
``router-dealer``   ZmqClient                  ZmqServer(bind=False); requests are
                                               spread over servers, replies routed back
``xsub-xpub``       ZmqPub(bind=False)         ZmqSub; subscriptions flow upstream
``pull-push``       ZmqPush                    ZmqPull(bind=False); round-robin
==================  =========================  ==========================================

Run it in a thread (``start()``), cheap and enough when the proxy is not the
bottleneck, or in its own process (``start(in_process=True)`` or
``start_in_process()``), which does not share the GIL with your code.
``stop()`` ends it cleanly through a control socket on a loopback port. The
process is started with the ``spawn`` method (safe with threads), so scripts
that start one need the usual ``if __name__ == '__main__':`` guard. It also
ends within about half a second of its parent's death, however the parent died
(SIGKILL, SIGTERM, a crash), so that it never keeps the ports from a restarted
parent. The proxy has a zmq context of its own, so its addresses must be tcp or
ipc, not inproc.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time

import zmq

from caraml.zmq.addressing import is_ipv6, resolve_address
from caraml.zmq.errors import ZmqProxyStartError

PATTERNS = {
    "router-dealer": (zmq.ROUTER, zmq.DEALER),
    "xsub-xpub": (zmq.XSUB, zmq.XPUB),
    "pull-push": (zmq.PULL, zmq.PUSH),
}

# Long enough for a spawned interpreter to import zmq on a loaded machine.
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 5
# Where a proxy listens for stop(): loopback only, on a port the OS picks.
CONTROL_ADDRESS = "tcp://127.0.0.1:0"
# How often a proxy process checks that its parent is still alive.
PARENT_CHECK_INTERVAL_MS = 500


class ZmqProxy:
    """Forwards messages between a bound frontend and a bound backend socket.

    ``frontend``/``backend`` are each an address (``'tcp://host:port'``,
    ``'host:port'``) or a port number (on 127.0.0.1; 0 picks a free port),
    or name a Symphony service with ``frontend_service=``/``backend_service=``.
    After :meth:`start`, ``frontend_address`` and ``backend_address`` hold the
    addresses actually bound.
    """

    def __init__(
        self,
        frontend: str | int | None = None,
        backend: str | int | None = None,
        context: zmq.Context | None = None,
        *,
        frontend_service: str | None = None,
        backend_service: str | None = None,
        pattern: str = "router-dealer",
        hwm: int | None = None,
    ):
        # context: accepted for caraml 0.x code and not used; a proxy needs a
        # context of its own, the one thing whose termination reliably stops it.
        if pattern not in PATTERNS:
            raise ValueError(f"unknown proxy pattern {pattern!r}: use one of {sorted(PATTERNS)}")
        self.pattern = pattern
        self.hwm = hwm
        self.frontend_address = _bind_address(frontend, frontend_service, "frontend")
        self.backend_address = _bind_address(backend, backend_service, "backend")
        self._runner: threading.Thread | multiprocessing.Process | None = None
        self._control_address: str | None = None

    def start(self, in_process: bool = False) -> threading.Thread | multiprocessing.Process:
        """Bind both sides and start forwarding; returns once bound (errors are raised here).

        Returns the daemon thread or process that runs the proxy.
        """
        if self._runner is not None:
            raise RuntimeError("this proxy is already started")
        settings = {
            "pattern": self.pattern,
            "frontend": self.frontend_address,
            "backend": self.backend_address,
            "hwm": self.hwm,
            # A process proxy watches for this pid to stop being its parent; a thread dies with us anyway.
            "parent_pid": os.getpid() if in_process else None,
        }
        if in_process:
            spawn = multiprocessing.get_context("spawn")
            report = spawn.Queue()
            runner = spawn.Process(target=_run_proxy, args=(settings, report), daemon=True)
        else:
            report = queue.Queue()
            runner = threading.Thread(target=_run_proxy, args=(settings, report), daemon=True)
        runner.name = f"caraml-proxy {self.pattern} {self.frontend_address} -> {self.backend_address}"
        runner.start()
        outcome = _wait_for_report(runner, report)
        if outcome[0] == "error":
            runner.join(STOP_TIMEOUT_SECONDS)
            raise ZmqProxyStartError(f"{runner.name}: {outcome[1]}")
        _, self.frontend_address, self.backend_address, self._control_address = outcome
        self._runner = runner
        return runner

    def start_in_process(self) -> multiprocessing.Process:
        """Same as ``start(in_process=True)``."""
        return self.start(in_process=True)

    def run(self) -> None:
        """Forward until :meth:`stop` is called from another thread (or Ctrl-C), as caraml 0.x's ``run()`` did.

        The forwarding itself runs in a daemon thread; this thread waits in
        short joins so that KeyboardInterrupt still reaches it.
        """
        runner = self.start()
        try:
            while runner.is_alive():
                runner.join(0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        """Tell the proxy to terminate and wait for it; a process that ignores it is killed."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        control = zmq.Context.instance().socket(zmq.PAIR)
        control.linger = STOP_TIMEOUT_SECONDS * 1000
        control.connect(self._control_address)
        control.send(b"stop")
        control.close()
        runner.join(STOP_TIMEOUT_SECONDS)
        if isinstance(runner, multiprocessing.process.BaseProcess) and runner.is_alive():
            runner.kill()
            runner.join()

    @property
    def running(self) -> bool:
        return self._runner is not None and self._runner.is_alive()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ZmqProxy({self.pattern}, frontend={self.frontend_address!r}, backend={self.backend_address!r})"


class ZmqProxyThread(ZmqProxy):
    """caraml 0.x's proxy-in-a-thread: ``ZmqProxyThread(in_add, out_add, pattern=...).start()``.

    ``start()`` returns once both sides are bound; after it, the thread's own
    attributes (``join``, ``is_alive``, ``daemon``, ``name``) are reachable on
    this object. The thread is a daemon, as it was.
    """

    def __getattr__(self, name: str):
        # Only called for names a ZmqProxy lacks: those of the running thread or process.
        runner = self.__dict__.get("_runner")
        if runner is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r} before start()")
        return getattr(runner, name)


class ZmqProxyProcess(ZmqProxyThread):
    """caraml 0.x's proxy in its own process: ``ZmqProxyProcess(in_add, out_add, pattern=...).start()``.

    The process is started with ``spawn`` (the script needs an
    ``if __name__ == '__main__':`` guard) and ends with its parent, however
    the parent dies; ``terminate()``, ``pid`` and ``exitcode`` are the process's.
    """

    def start(self, in_process: bool = True) -> multiprocessing.Process:
        """Start the proxy process; returns once both sides are bound."""
        return super().start(in_process=True)


def _bind_address(address: str | int | None, service: str | None, side: str) -> str:
    if (address is None) == (service is None):
        raise ValueError(f"give the proxy's {side} either as an address/port or as {side}_service=")
    if isinstance(address, int):
        return resolve_address(port=address, bind=True)
    return resolve_address(address=address, service=service, bind=True)


def _wait_for_report(runner: threading.Thread | multiprocessing.Process, report) -> tuple:
    """Wait for the runner's first report, giving up early if it dies without one."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            return report.get(timeout=0.1)
        except queue.Empty:
            if not runner.is_alive():
                hint = ""
                if isinstance(runner, multiprocessing.process.BaseProcess):
                    hint = " (a script that starts a proxy process needs an `if __name__ == '__main__':` guard)"
                return ("error", f"exited before binding its sockets{hint}")
    return ("error", f"not bound after {STARTUP_TIMEOUT_SECONDS} s")


def _run_proxy(settings: dict, report) -> None:
    """Body of the proxy thread or process: bind, report the bound addresses, forward until told to stop.

    The proxy gets a context of its own: terminating that context is the one
    reliable way to end a running ``zmq.proxy`` (libzmq 4.3's steerable proxy
    ignores TERMINATE with some socket types). A watcher thread does so when
    anything arrives on the control socket or, in a process, when the parent
    that started it is gone.
    """
    context = zmq.Context()
    frontend_type, backend_type = PATTERNS[settings["pattern"]]
    sockets = []
    try:
        for socket_type, address in (
            (frontend_type, settings["frontend"]),
            (backend_type, settings["backend"]),
            (zmq.PAIR, CONTROL_ADDRESS),
        ):
            sock = context.socket(socket_type)
            sockets.append(sock)
            sock.linger = 0
            if settings["hwm"] is not None and socket_type != zmq.PAIR:
                sock.sndhwm = sock.rcvhwm = settings["hwm"]
            sock.ipv6 = is_ipv6(address)
            sock.bind(address)
    except zmq.ZMQError as error:
        report.put(("error", f"cannot bind {address}: {error}"))
        for sock in sockets:
            sock.close()
        context.term()
        return
    frontend, backend, control = sockets
    report.put(("ready", *(sock.last_endpoint.decode() for sock in sockets)))
    watcher = threading.Thread(
        target=_terminate_when_told, args=(control, context, settings["parent_pid"]), daemon=True
    )
    watcher.start()
    try:
        zmq.proxy(frontend, backend)
    except zmq.ContextTerminated:
        pass
    finally:
        frontend.close()
        backend.close()
    watcher.join()


def _terminate_when_told(control: zmq.Socket, context: zmq.Context, parent_pid: int | None) -> None:
    """Terminate ``context`` once told on ``control``, or once the process ``parent_pid`` is no longer our parent.

    A parent killed by SIGKILL or SIGTERM never calls stop(), and multiprocessing
    does not end daemon children then: the orphan, reparented to init, would keep
    the ports and a restarted parent could not bind them again. Polling
    ``getppid()`` catches every way the parent can die, on any POSIX system.
    Linux's PR_SET_PDEATHSIG would be quicker, but it fires when the *thread*
    that started the process ends, which would kill a proxy started from a
    short-lived thread. Comparing with the pid the parent gave also covers a
    parent that died before this watcher started.
    """
    interval = None if parent_pid is None else PARENT_CHECK_INTERVAL_MS  # None: wait for the control socket only
    while not control.poll(interval):
        if os.getppid() != parent_pid:
            break
    control.close()
    context.term()  # the proxy returns, closes its sockets, and then term() completes
