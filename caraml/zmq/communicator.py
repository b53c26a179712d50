"""Messaging endpoints over ZeroMQ: client/server, push/pull and pub/sub.

=====================  ===========  =====================================================
class                  default      what it does
=====================  ===========  =====================================================
:class:`ZmqClient`     connects     ``request(msg)`` → reply; ``timeout=`` raises
                                    :class:`ZmqTimeoutError` and leaves the client usable
:class:`ZmqServer`     binds        ``recv()``/``send()`` in strict pairs, or
                                    ``start_loop(handler)``; handler errors reach the
                                    client as :class:`ZmqRemoteError`
:class:`ZmqPush`       connects     ``push(data)``
:class:`ZmqPull`       binds        ``pull()`` → data
:class:`ZmqPub`        binds        ``pub(topic, data)``
:class:`ZmqSub`        connects     ``recv()`` → ``(topic, data)``; prefix-matched topics;
                                    ``start_loop(handler)`` calls ``handler(data)``
:class:`ZmqSender`     connects     ``send(msg)`` returns once a ZmqReceiver has it
:class:`ZmqReceiver`   binds        ``recv()`` acknowledges (``b'ack'``) and returns
=====================  ===========  =====================================================

Every object's ``.socket`` is a :class:`ZmqSocket` (``.address``, ``.host``,
``.port``, ``unwrap()`` for the raw pyzmq socket), and ``callback=`` gets it
before it binds or connects; caraml 0.x code using them runs unchanged.

Where a socket goes
-------------------
Give exactly one of ``address='tcp://host:port'``, ``port=`` (with ``host=``,
default ``127.0.0.1``; ``'localhost'`` and IPv6 literals such as ``'::1'`` are
accepted) or ``service='name'``. A port that is not a number from 1 to 65535
(0 too when binding) raises ``ValueError`` naming the argument or variable.
``bind=True/False`` overrides the role's default. ``timeout=`` is in
seconds; None or a negative number (caraml 0.x's ``-1``) waits forever. A binding socket given
``port=0`` gets a free port from the OS; read it back from ``.port`` or
``.address``.

``service='replay-server'`` reads ``SYMPH_REPLAY_SERVER_HOST`` and
``SYMPH_REPLAY_SERVER_PORT`` (service name upper-cased, ``-`` → ``_``), which
Symphony sets in the processes of an experiment. Binding roles listen on
``tcp://$SYMPH_BIND_HOST:$SYMPH_REPLAY_SERVER_PORT`` instead: Symphony sets
``SYMPH_BIND_HOST`` to ``127.0.0.1`` on the local and tmux backends and to
``0.0.0.0`` inside containers; without it they bind the ``_HOST`` value. A
missing variable raises :class:`ZmqServiceNotFound` (a ``ValueError``) naming
the service and the variables looked for.

Messages
--------
``serializer=`` picks the wire format (see :mod:`caraml.zmq.serializers`):
``'pickle'`` (default, zero-copy for numpy arrays), ``'json'``, ``'msgpack'``,
``'str'``, ``'raw'`` or a callable pair ``serializer=``/``deserializer=``.
Pickle runs code chosen by the sender when loading: use it only between trusted
processes of one experiment. Sending is zero-copy for large buffers, so do not
modify an array in place right after sending it: zmq may still be reading it.
Received numpy arrays are backed by the received zmq frame.

Lifetime
--------
All sockets share the process's ``zmq.Context.instance()``. Every class is a
context manager and has ``close()``; sockets set ``LINGER`` (``linger=``
seconds, default 1) so that unsent messages never keep a process from exiting,
and server loop threads are daemons. As with any zmq socket, use each object
from one thread at a time; a running server loop owns its server.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import zmq

from caraml.zmq.addressing import is_ipv6, resolve_address
from caraml.zmq.errors import ZmqPairingError, ZmqRemoteError, ZmqTimeoutError
from caraml.zmq.serializers import Frames, SerializerSpec, get_decoder, get_encoder

DEFAULT_LINGER_SECONDS = 1.0

# How often a server loop wakes up to notice stop() when no request comes.
STOP_CHECK_INTERVAL_MS = 50

# How long a binding client waits for its old port after a timeout.
REBIND_TIMEOUT_SECONDS = 2.0

# A reply whose first frame is empty and is followed by more frames reports an
# error. No encoder produces that: only pickle makes several frames, and a pickle
# stream is never empty. Keeping successful replies free of a status frame saves
# two socket calls per round trip, which shows in small-message latency.
_ERROR_MARKER = b""

_SNDMORE = zmq.SNDMORE

# pyzmq's send and recv as implemented in its compiled backend. Calling them
# directly skips the pure-Python layer of zmq.Socket.send (routing ids and
# groups, which caraml never uses), about 0.4 µs per message pair, a tenth of
# the whole overhead budget of a small request/reply.
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv

# Frames below this size are sent as copies: for them a copy is cheaper than
# the zmq.Frame that a zero-copy send wraps around the buffer (pyzmq's own
# copy threshold).
_COPY_BELOW = 65536


def _send_frames(sock: zmq.Socket, frames: Frames) -> None:
    """Send ``frames`` as one message; small ``bytes`` frames are copied, anything else goes without copy."""
    last = frames[-1]
    if len(frames) > 1:
        for frame in frames[:-1]:
            _send(sock, frame, _SNDMORE, type(frame) is bytes and len(frame) < _COPY_BELOW)
    _send(sock, last, 0, type(last) is bytes and len(last) < _COPY_BELOW)


def _recv_frames(sock: zmq.Socket) -> Frames:
    """Receive the rest of a message: the first frame as bytes, later ones as zero-copy memoryviews.

    ``Frame.more`` comes with each frame, which is cheaper than asking the
    socket for RCVMORE (pyzmq looks that option's type up on every call).
    """
    frame = _recv(sock, 0, False)
    if not frame.more:
        return [frame.bytes]
    frames = [frame.bytes]
    while frame.more:
        frame = _recv(sock, 0, False)
        frames.append(frame.buffer)
    return frames


def _milliseconds(seconds: float | None) -> int:
    """zmq's timeout option value: milliseconds, or -1 for forever (None or, as in caraml 0.x, any negative number)."""
    return -1 if seconds is None or seconds < 0 else int(seconds * 1000)


_logger = logging.getLogger("caraml.zmq")


class ZmqSocket:
    """One raw zmq socket with the address it goes to: caraml 0.x's low-level wrapper, and what ``.socket`` returns.

    Built directly, it creates the socket at once and binds or connects only on
    :meth:`establish`, so that options can be set in between. Every class's
    ``.socket`` is one of these, already established, over the socket the class
    uses; ``callback=`` receives one before it is established. Attributes it
    does not have itself (``setsockopt``, ``send``, ``recv``, ``closed``, …)
    are the zmq socket's.
    """

    SOCKET_TYPES = {
        "PULL": zmq.PULL,
        "PUSH": zmq.PUSH,
        "PUB": zmq.PUB,
        "SUB": zmq.SUB,
        "REQ": zmq.REQ,
        "REP": zmq.REP,
        "ROUTER": zmq.ROUTER,
        "DEALER": zmq.DEALER,
        "PAIR": zmq.PAIR,
        "XPUB": zmq.XPUB,
        "XSUB": zmq.XSUB,
    }

    def __init__(
        self,
        *,
        address: str | None = None,
        host: str | None = None,
        port: int | str | None = None,
        socket_mode: int | str,
        bind: bool,
        context: zmq.Context | None = None,
        verbose: bool = True,
        hwm: int | None = None,
        linger: float = DEFAULT_LINGER_SECONDS,
    ):
        """
        Args:
            address, host, port: where the socket goes (``'localhost'`` is 127.0.0.1,
                ``host='*'`` binds every interface).
            socket_mode: a zmq socket type, or its name (``'PUSH'``).
            bind: bind (True) or connect (False) on :meth:`establish`.
            context: the zmq context; the process's shared one by default.
            verbose: log (``logging``, logger ``caraml.zmq``) where it binds or connects.
            hwm: high-water mark for sending and receiving.
            linger: seconds unsent messages are kept after close, so that a
                process never hangs at exit on them.
        """
        if isinstance(socket_mode, str):
            try:
                socket_mode = self.SOCKET_TYPES[socket_mode.upper()]
            except KeyError:
                raise ValueError(
                    f"unknown socket_mode {socket_mode!r}: use one of {sorted(self.SOCKET_TYPES)}"
                ) from None
        if host is not None and ("/" in str(host) or port is None):
            raise ValueError(f"Cannot parse address from host={host!r}, port={port!r}: give host and port, or address=")
        try:
            resolved = resolve_address(host=host, port=port, address=address, bind=bind)
        except ValueError as error:
            raise ValueError(f"Cannot parse address: {error}") from None
        sock = (context or zmq.Context.instance()).socket(socket_mode)
        sock.linger = int(linger * 1000)
        if hwm is not None:
            sock.sndhwm = sock.rcvhwm = hwm
        sock.ipv6 = is_ipv6(resolved)
        self._attach(sock, resolved, bind, established=False, verbose=verbose)

    @classmethod
    def _wrapping(cls, sock: zmq.Socket, address: str, bind: bool, established: bool) -> ZmqSocket:
        """A view of a socket a caraml class opened itself."""
        view = cls.__new__(cls)
        view._attach(sock, address, bind, established, verbose=False)
        return view

    def _attach(self, sock: zmq.Socket, address: str, bind: bool, established: bool, verbose: bool) -> None:
        self._socket = sock
        self.address = address
        self.bind = bind
        self.socket_mode = sock.type
        self.established = established
        self._verbose = verbose

    @property
    def host(self) -> str | None:
        """The host part of a tcp address (brackets removed from IPv6), else None."""
        if not self.address.startswith("tcp://"):
            return None
        return self.address[len("tcp://") :].rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int | None:
        """The port of a tcp address (the OS's choice once a port-0 socket is bound), else None."""
        if not self.address.startswith("tcp://"):
            return None
        port = self.address.rpartition(":")[2]
        return int(port) if port.isdigit() else None

    @property
    def socket_type(self) -> str:
        """The socket type's name, e.g. ``'PUSH'``."""
        for name, value in self.SOCKET_TYPES.items():
            if value == self.socket_mode:
                return name
        return str(self.socket_mode)

    def unwrap(self) -> zmq.Socket:
        """The raw pyzmq socket."""
        return self._socket

    def establish(self) -> ZmqSocket:
        """Bind or connect (once; later calls do nothing), after the options are set."""
        if not self.established:
            self.established = True
            action = "binding to" if self.bind else "connecting to"
            if self._verbose:
                _logger.info("[%s] %s %s", self.socket_type, action, self.address)
            if self.bind:
                self._socket.bind(self.address)
                self.address = self._socket.last_endpoint.decode()
            else:
                self._socket.connect(self.address)
        return self

    def __getattr__(self, name: str):
        # Only called for names this object lacks: those are the zmq socket's.
        if name == "_socket":
            raise AttributeError(name)
        return getattr(self._socket, name)

    def __repr__(self) -> str:
        return f"ZmqSocket({self.socket_type}, address={self.address!r}, bind={self.bind})"


class _ZmqSocket:
    """One zmq socket placed where the user asked, with timeouts, HWM and a clean close."""

    _socket_type: int
    _binds_by_default: bool

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | str | None = None,
        address: str | None = None,
        service: str | None = None,
        bind: bool | None = None,
        hwm: int | None = None,
        timeout: float | None = None,
        linger: float = DEFAULT_LINGER_SECONDS,
        callback: Callable[[ZmqSocket], Any] | None = None,
        context: zmq.Context | None = None,
        verbose: bool = False,
    ):
        """
        Args:
            host, port, address, service: where the socket goes; see the module docstring.
            bind: bind (listen) or connect; None picks the role's default.
            hwm: high-water mark (messages queued per peer) for sending and receiving;
                None keeps zmq's default of 1000.
            timeout: seconds a send or receive may take before ZmqTimeoutError;
                None (or a negative number) waits forever.
            linger: seconds unsent messages are kept after close().
            callback: called with the :class:`ZmqSocket` before it binds or connects
                (again for each replacement socket), to set options zmq only
                honours then.
            context: the zmq context; the process's shared one by default.
            verbose: log where the socket binds or connects (logger ``caraml.zmq``).
        """
        self.bind = self._binds_by_default if bind is None else bind
        self._timeout = None if timeout is not None and timeout < 0 else timeout
        self._hwm = hwm
        self._linger_ms = int(linger * 1000)
        self._callback = callback
        self._context = context
        self._verbose = verbose
        self._view: ZmqSocket | None = None
        self.address = resolve_address(host=host, port=port, address=address, service=service, bind=self.bind)
        self._socket = self._open_socket()

    def _open_socket(self) -> zmq.Socket:
        """A socket with this object's options, bound or connected to ``self.address``.

        After binding, ``self.address`` becomes the bound endpoint (the real
        port when port 0 was asked), so that a reopened socket comes back there.
        """
        sock = (self._context or zmq.Context.instance()).socket(self._socket_type)
        try:
            sock.linger = self._linger_ms
            if self._hwm is not None:
                sock.sndhwm = sock.rcvhwm = self._hwm
            sock.sndtimeo = sock.rcvtimeo = _milliseconds(self._timeout)
            sock.ipv6 = is_ipv6(self.address)
            self._configure(sock)
            view = ZmqSocket._wrapping(sock, self.address, self.bind, established=False)
            view._verbose = self._verbose
            if self._callback is not None:
                self._callback(view)
            view.establish()  # does nothing if the callback established it
            self.address = view.address
            self._view = view
        except BaseException:
            sock.close(linger=0)
            raise
        return sock

    @property
    def timeout(self) -> float | None:
        """Seconds a send or receive may take before ZmqTimeoutError; None waits forever. Settable."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float | None) -> None:
        self._timeout = None if seconds is not None and seconds < 0 else seconds
        self._socket.sndtimeo = self._socket.rcvtimeo = _milliseconds(seconds)

    def _configure(self, sock: zmq.Socket) -> None:
        """Set role-specific options before bind/connect (subscriptions, for instance)."""

    @property
    def port(self) -> int:
        """The TCP port bound or connected to (the OS's choice after binding port 0)."""
        return int(self.address.rsplit(":", 1)[1])

    @property
    def host(self) -> str | None:
        """The host of a tcp address (IPv6 without brackets), else None."""
        return self.socket.host

    @property
    def socket(self) -> ZmqSocket:
        """The :class:`ZmqSocket` in use, for zmq options and caraml 0.x code (``.socket.unwrap()``).

        A client replaces its socket after a timeout: read this again rather than keeping it.
        """
        view = self._view
        if view is None or view._socket is not self._socket:
            view = self._view = ZmqSocket._wrapping(self._socket, self.address, self.bind, established=True)
        return view

    @property
    def closed(self) -> bool:
        return self._socket.closed

    def close(self) -> None:
        """Close the socket; unsent messages are kept for ``linger`` seconds, then dropped."""
        self._socket.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _timeout_error(self, action: str) -> ZmqTimeoutError:
        return ZmqTimeoutError(f"{type(self).__name__} at {self.address}: {action} timed out after {self.timeout} s")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self.address!r}, bind={self.bind})"


class ZmqClient(_ZmqSocket):
    """Sends requests to a :class:`ZmqServer` (or a router–dealer proxy) and waits for replies.

    A REQ socket refuses a second request while one is unanswered, so after a
    timeout (or any interrupted request) the socket is thrown away and a fresh
    one connected: the client stays usable and a late reply is dropped.
    """

    _socket_type = zmq.REQ
    _binds_by_default = False

    def __init__(self, *, serializer: SerializerSpec = None, deserializer: SerializerSpec = None, **socket_options):
        """``serializer``/``deserializer``: see :mod:`caraml.zmq.serializers`; others: see ``_ZmqSocket``."""
        self._encode = get_encoder(serializer)
        self._decode = get_decoder(serializer, deserializer)
        super().__init__(**socket_options)

    def request(self, msg: Any) -> Any:
        """Send ``msg`` and return the server's reply.

        Raises:
            ZmqTimeoutError: no reply within ``timeout`` seconds.
            ZmqRemoteError: the server's handler raised.
        """
        frames = self._encode(msg)
        sock = self._socket
        try:
            # The one-small-frame case inline: it is most requests, and each
            # function call saved is ~0.1 µs of a round trip's overhead.
            if len(frames) == 1 and type(frames[0]) is bytes and len(frames[0]) < _COPY_BELOW:
                _send(sock, frames[0])
            else:
                _send_frames(sock, frames)
            frame = _recv(sock, 0, False)
            reply = [frame.bytes]
            while frame.more:
                frame = _recv(sock, 0, False)
                reply.append(frame.buffer)
        except BaseException as exc:
            self._replace_socket()
            if isinstance(exc, zmq.Again):
                raise self._timeout_error("request") from None
            raise
        if len(reply) == 2 and reply[0] == _ERROR_MARKER:
            raise ZmqRemoteError(**json.loads(bytes(reply[1])))
        return self._decode(reply)

    def _replace_socket(self) -> None:
        """Drop the REQ socket with its unanswered request and open a fresh one at the same address.

        A binding client must wait for zmq's asynchronous close to free the port.
        """
        self._socket.close(linger=0)
        deadline = time.monotonic() + REBIND_TIMEOUT_SECONDS
        while True:
            try:
                self._socket = self._open_socket()
                return
            except zmq.ZMQError as error:
                if error.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


class ZmqServer(_ZmqSocket):
    """Answers :class:`ZmqClient` requests, by hand or with a handler loop.

    By hand, ``recv()`` and ``send()`` must alternate (a REP socket's rule);
    breaking the order raises :class:`ZmqPairingError` instead of zmq's cryptic
    EFSM. ``start_loop(handler)`` replies with ``handler(request)``; if the
    handler raises, the client gets a :class:`ZmqRemoteError` and the loop goes
    on (or ends, after replying, on ``SystemExit`` and ``KeyboardInterrupt``).
    """

    _socket_type = zmq.REP
    _binds_by_default = True

    def __init__(self, *, serializer: SerializerSpec = None, deserializer: SerializerSpec = None, **socket_options):
        """``serializer``/``deserializer``: see :mod:`caraml.zmq.serializers`; others: see ``_ZmqSocket``."""
        self._encode = get_encoder(serializer)
        self._decode = get_decoder(serializer, deserializer)
        self._awaiting_reply = False
        self._stop_requested = threading.Event()
        self._loop_thread: threading.Thread | None = None
        super().__init__(**socket_options)

    def recv(self) -> Any:
        """Wait for the next request and return it; answer it with :meth:`send` before the next recv().

        If the request cannot be decoded, the error is raised here and the
        request still awaits an answer (:meth:`send_error` tells the client).
        """
        if self._awaiting_reply:
            self._refuse_while_request_pending("recv()")
        try:
            frames = _recv_frames(self._socket)
        except zmq.Again:
            raise self._timeout_error("recv") from None
        self._awaiting_reply = True
        return self._decode(frames)

    def send(self, msg: Any) -> None:
        """Reply ``msg`` to the request returned by the last :meth:`recv`."""
        if not self._awaiting_reply:
            self._refuse_without_request("send()")
        frames = self._encode(msg)  # fails before sending anything, so send() can be retried
        _send_frames(self._socket, frames)
        self._awaiting_reply = False

    def send_error(self, error: BaseException) -> None:
        """Reply to the pending request with ``error``; the client raises it as ZmqRemoteError."""
        if not self._awaiting_reply:
            self._refuse_without_request("send_error()")
        error_type = type(error)
        payload = {
            "remote_type": f"{error_type.__module__}.{error_type.__qualname__}",
            "remote_message": _describe(error),
            "remote_traceback": "".join(traceback.format_exception(error)),
        }
        self._socket.send_multipart([_ERROR_MARKER, json.dumps(payload).encode()])
        self._awaiting_reply = False

    @staticmethod
    def _refuse_while_request_pending(action: str) -> None:
        raise ZmqPairingError(f"{action} called while a request awaits its reply: call send() first")

    @staticmethod
    def _refuse_without_request(action: str) -> None:
        raise ZmqPairingError(f"{action} called without a pending request: call recv() first")

    def start_loop(self, handler: Callable[[Any], Any], blocking: bool = False) -> threading.Thread | None:
        """Serve ``handler(request) -> reply`` until :meth:`stop`.

        Returns the started daemon thread, or None once a ``blocking`` loop ends.
        Do not call recv()/send() yourself while the loop runs.

        A handler that raises an ``Exception`` gets an error reply sent and the
        loop goes on. One that raises anything else (``sys.exit()``,
        ``KeyboardInterrupt``) asks to stop: the client still gets its error
        reply, then the exception ends the loop, propagating out of a blocking
        call (a thread ends on it), and the loop can be started again.
        """
        if self._loop_thread is not None and self._loop_thread.is_alive():
            raise RuntimeError("this server's loop is already running")
        if self._awaiting_reply:
            self._refuse_while_request_pending("start_loop()")
        self._stop_requested.clear()
        if blocking:
            self._serve(handler)
            return None
        self._loop_thread = threading.Thread(
            target=self._serve, args=(handler,), daemon=True, name=f"caraml-server {self.address}"
        )
        self._loop_thread.start()
        return self._loop_thread

    def _serve(self, handler: Callable[[Any], Any]) -> None:
        sock = self._socket
        sock.rcvtimeo = STOP_CHECK_INTERVAL_MS
        # Locals and the one-small-frame reply inline: this loop is half of
        # every small round trip's overhead. While it runs, nobody else may
        # recv() or send(), so _awaiting_reply is only set where send_error()
        # needs it.
        stop_requested = self._stop_requested.is_set
        encode, decode, recv_frames = self._encode, self._decode, _recv_frames
        try:
            while not stop_requested():
                try:
                    frames = recv_frames(sock)
                except zmq.Again:
                    continue
                try:
                    frames = encode(handler(decode(frames)))
                except Exception as error:  # undecodable request, handler error or unencodable reply
                    self._awaiting_reply = True
                    self.send_error(error)
                    continue
                except BaseException as error:  # SystemExit, KeyboardInterrupt: answer, then stop
                    self._awaiting_reply = True
                    self.send_error(error)
                    raise
                if len(frames) == 1 and type(frames[0]) is bytes and len(frames[0]) < _COPY_BELOW:
                    _send(sock, frames[0])
                else:
                    _send_frames(sock, frames)
        finally:
            if not sock.closed:
                sock.rcvtimeo = _milliseconds(self._timeout)

    def stop(self) -> None:
        """Stop the loop (within ~50 ms) and wait for its thread; callable from the handler too."""
        self._stop_requested.set()
        thread = self._loop_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
            self._loop_thread = None

    def close(self) -> None:
        """Stop the loop if it runs, then close the socket."""
        self.stop()
        super().close()


def _describe(error: BaseException) -> str:
    """``str(error)``, falling back to ``repr`` and then a placeholder when those raise too.

    An error reply must go out whatever the exception, or the client waits for
    its timeout and the server is left owing a reply.
    """
    for describe in (str, repr):
        try:
            return describe(error)
        except Exception:
            pass
    return f"<unprintable {type(error).__qualname__} object>"


class ZmqPush(_ZmqSocket):
    """Sends data to :class:`ZmqPull` sockets, round-robin over connected pullers."""

    _socket_type = zmq.PUSH
    _binds_by_default = False

    def __init__(self, *, serializer: SerializerSpec = None, **socket_options):
        self._encode = get_encoder(serializer)
        super().__init__(**socket_options)

    def push(self, data: Any) -> None:
        """Queue ``data`` for sending; blocks (up to ``timeout``) only when the HWM is reached."""
        frames = self._encode(data)
        try:
            _send_frames(self._socket, frames)
        except zmq.Again:
            raise self._timeout_error("push") from None


class ZmqPull(_ZmqSocket):
    """Receives data from :class:`ZmqPush` sockets, fairly queued across pushers."""

    _socket_type = zmq.PULL
    _binds_by_default = True

    def __init__(self, *, serializer: SerializerSpec = None, deserializer: SerializerSpec = None, **socket_options):
        self._decode = get_decoder(serializer, deserializer)
        super().__init__(**socket_options)

    def pull(self) -> Any:
        """Wait (up to ``timeout``) for the next message and return it."""
        try:
            frames = _recv_frames(self._socket)
        except zmq.Again:
            raise self._timeout_error("pull") from None
        return self._decode(frames)


class ZmqPub(_ZmqSocket):
    """Publishes data under a topic to every subscribed :class:`ZmqSub`."""

    _socket_type = zmq.PUB
    _binds_by_default = True

    def __init__(self, *, serializer: SerializerSpec = None, **socket_options):
        self._encode = get_encoder(serializer)
        super().__init__(**socket_options)

    def pub(self, topic: str | bytes, data: Any) -> None:
        """Publish ``data`` under ``topic`` (``str``, or UTF-8 ``bytes``: subscribers receive it as ``str``).

        Never blocks: as with any zmq PUB socket, a message no subscriber
        matches, or one beyond a slow subscriber's HWM, is dropped.
        """
        topic = _topic_bytes(topic)
        frames = self._encode(data)
        self._socket.send(topic, _SNDMORE)
        _send_frames(self._socket, frames)


class ZmqSub(_ZmqSocket):
    """Receives what :class:`ZmqPub` publishes under the subscribed topics.

    Topics match by prefix, as in zmq: subscribing to ``'obs'`` also receives
    ``'obs/agent-1'``; the default ``''`` (or None) receives everything. Topics
    may be ``str`` or ``bytes``; :meth:`recv` returns them as ``str``. A new
    subscription takes a moment to reach the publisher; messages published
    before are lost.
    """

    _socket_type = zmq.SUB
    _binds_by_default = False

    def __init__(
        self,
        *,
        topic: str | bytes | list[str | bytes] | None = "",
        serializer: SerializerSpec = None,
        deserializer: SerializerSpec = None,
        **socket_options,
    ):
        self._decode = get_decoder(serializer, deserializer)
        self._initial_topics = _subscription_topics(topic)
        self._stop_requested = threading.Event()
        self._loop_thread: threading.Thread | None = None
        super().__init__(**socket_options)

    def _configure(self, sock: zmq.Socket) -> None:
        for topic in self._initial_topics:
            sock.subscribe(topic)

    def subscribe(self, topic: str | bytes) -> None:
        """Also receive messages whose topic starts with ``topic``."""
        self._socket.subscribe(_topic_bytes(topic))

    def unsubscribe(self, topic: str | bytes) -> None:
        """Undo one ``subscribe(topic)`` (or the constructor's); the publisher learns it shortly."""
        self._socket.unsubscribe(_topic_bytes(topic))

    def recv(self) -> tuple[str, Any]:
        """Wait (up to ``timeout``) for the next message; return ``(topic, data)``."""
        try:
            topic = self._socket.recv()
            frames = _recv_frames(self._socket)
        except zmq.Again:
            raise self._timeout_error("recv") from None
        return topic.decode(), self._decode(frames)

    def start_loop(self, handler: Callable[[Any], Any], blocking: bool = False) -> threading.Thread | None:
        """Call ``handler(data)`` for every message until :meth:`stop`, as caraml 0.x did.

        The handler gets the data only, not the topic (use :meth:`recv` for
        both). Returns the started daemon thread, or None once a ``blocking``
        loop ends. A handler that raises ends the loop with that exception,
        like any thread body.
        """
        if self._loop_thread is not None and self._loop_thread.is_alive():
            raise RuntimeError("this subscriber's loop is already running")
        self._stop_requested.clear()
        if blocking:
            self._listen(handler)
            return None
        self._loop_thread = threading.Thread(
            target=self._listen, args=(handler,), daemon=True, name=f"caraml-sub {self.address}"
        )
        self._loop_thread.start()
        return self._loop_thread

    def _listen(self, handler: Callable[[Any], Any]) -> None:
        sock = self._socket
        sock.rcvtimeo = STOP_CHECK_INTERVAL_MS
        try:
            while not self._stop_requested.is_set():
                try:
                    sock.recv()  # the topic
                except zmq.Again:
                    continue
                handler(self._decode(_recv_frames(sock)))
        finally:
            if not sock.closed:
                sock.rcvtimeo = _milliseconds(self._timeout)

    def stop(self) -> None:
        """Stop the loop (within ~50 ms) and wait for its thread; callable from the handler too."""
        self._stop_requested.set()
        thread = self._loop_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
            self._loop_thread = None

    def close(self) -> None:
        """Stop the loop if it runs, then close the socket."""
        self.stop()
        super().close()


def _topic_bytes(topic: str | bytes) -> bytes:
    """``topic`` as the bytes zmq matches; anything else is a TypeError naming the argument, not an AttributeError."""
    if isinstance(topic, str):
        return topic.encode()
    if isinstance(topic, bytes):
        return topic
    raise TypeError(f"topic must be str or bytes, got {type(topic).__name__}")


def _subscription_topics(topic: str | bytes | list[str | bytes] | None) -> list[bytes]:
    """``ZmqSub(topic=)`` as the prefixes to subscribe to; None means everything, like the default ``''``."""
    if topic is None:
        return [b""]
    if isinstance(topic, (str, bytes)):
        return [_topic_bytes(topic)]
    if isinstance(topic, (list, tuple, set, frozenset)):
        return [_topic_bytes(item) for item in topic]
    raise TypeError(f"topic must be str, bytes, a list of them, or None, got {type(topic).__name__}")


ZmqPusher = ZmqPush
ZmqPuller = ZmqPull


# What a ZmqReceiver answers to every message, as raw bytes whatever the serializer.
_ACK = b"ack"


class ZmqSender(ZmqClient):
    """Sends data to a :class:`ZmqReceiver` and waits until it has it: push with delivery confirmation.

    Each ``send`` is a request answered by ``b'ack'`` as soon as the receiver
    has decoded the message, so a sender never runs more than one message
    ahead of its receiver, unlike :class:`ZmqPush`. The wire format is caraml
    0.x's: the message frames one way, ``b'ack'`` (raw bytes) back.
    """

    def __init__(self, *, serializer: SerializerSpec = None, **socket_options):
        """``serializer``: see :mod:`caraml.zmq.serializers`; others: see ``_ZmqSocket`` (connects by default)."""
        super().__init__(serializer=serializer, deserializer="raw", **socket_options)

    def send(self, msg: Any) -> None:
        """Send ``msg``; return once the receiver has it.

        Raises:
            ZmqTimeoutError: no acknowledgement within ``timeout`` seconds.
            ZmqRemoteError: the receiver could not decode the message.
            ValueError: the peer answered something else than ``b'ack'`` (it is not a ZmqReceiver).
        """
        reply = self.request(msg)
        if reply != _ACK:
            raise ValueError(
                f"ZmqSender at {self.address} got {bytes(reply[:40])!r} instead of b'ack': "
                "the peer is not a ZmqReceiver (use ZmqClient to talk to a ZmqServer)"
            )


class ZmqReceiver(ZmqServer):
    """Receives what :class:`ZmqSender` sends, acknowledging each message as soon as it is decoded."""

    def __init__(self, *, deserializer: SerializerSpec = None, serializer: SerializerSpec = None, **socket_options):
        """``deserializer`` (or ``serializer``, naming the format): see :mod:`caraml.zmq.serializers`."""
        super().__init__(serializer=serializer, deserializer=deserializer, **socket_options)

    def recv(self) -> Any:
        """Wait (up to ``timeout``) for the next message, acknowledge it and return it.

        A message that cannot be decoded is answered with an error (the
        sender raises :class:`ZmqRemoteError`) and the error is raised here too.
        """
        if self._awaiting_reply:
            self._refuse_while_request_pending("recv()")
        try:
            frames = _recv_frames(self._socket)
        except zmq.Again:
            raise self._timeout_error("recv") from None
        return self._acknowledge(frames)

    def _acknowledge(self, frames: Frames) -> Any:
        try:
            data = self._decode(frames)
        except Exception as error:
            self._awaiting_reply = True
            self.send_error(error)
            raise
        _send(self._socket, _ACK)
        return data

    def _serve(self, handler: Callable[[Any], Any]) -> None:
        """``handler(data)`` for each message, after its acknowledgement; the handler's result is ignored.

        The sender has its acknowledgement before the handler runs, so a
        handler error cannot reach it: the traceback goes to stderr and the
        loop goes on; ``SystemExit`` and ``KeyboardInterrupt`` end it.
        """
        sock = self._socket
        sock.rcvtimeo = STOP_CHECK_INTERVAL_MS
        try:
            while not self._stop_requested.is_set():
                try:
                    frames = _recv_frames(sock)
                except zmq.Again:
                    continue
                try:
                    data = self._acknowledge(frames)
                except Exception:
                    continue  # the sender was told
                try:
                    handler(data)
                except Exception:
                    print(f"caraml: ZmqReceiver handler at {self.address} raised:", file=sys.stderr)
                    traceback.print_exc()
        finally:
            if not sock.closed:
                sock.rcvtimeo = _milliseconds(self._timeout)
