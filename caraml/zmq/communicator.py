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
:class:`ZmqSub`        connects     ``recv()`` → ``(topic, data)``; prefix-matched topics
=====================  ===========  =====================================================

Where a socket goes
-------------------
Give exactly one of ``address='tcp://host:port'``, ``port=`` (with ``host=``,
default ``127.0.0.1``; ``'localhost'`` and IPv6 literals such as ``'::1'`` are
accepted) or ``service='name'``. A port that is not a number from 1 to 65535
(0 too when binding) raises ``ValueError`` naming the argument or variable.
``bind=True/False`` overrides the role's default. A binding socket given
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


def _send_frames(sock: zmq.Socket, frames: Frames) -> None:
    """Send ``frames`` as one message; pyzmq still copies frames under its copy threshold."""
    if len(frames) > 1:
        for frame in frames[:-1]:
            sock.send(frame, _SNDMORE, copy=False)
    sock.send(frames[-1], copy=False)


def _recv_frames(sock: zmq.Socket) -> Frames:
    """Receive the rest of a message: the first frame as bytes, later ones as zero-copy memoryviews.

    ``Frame.more`` comes with each frame, which is cheaper than asking the socket for RCVMORE.
    """
    frame = sock.recv(copy=False)
    frames = [frame.bytes]
    while frame.more:
        frame = sock.recv(copy=False)
        frames.append(frame.buffer)
    return frames


def _milliseconds(seconds: float | None) -> int:
    """zmq's timeout option value: milliseconds, or -1 for forever."""
    return -1 if seconds is None else int(seconds * 1000)


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
    ):
        """
        Args:
            host, port, address, service: where the socket goes; see the module docstring.
            bind: bind (listen) or connect; None picks the role's default.
            hwm: high-water mark (messages queued per peer) for sending and receiving;
                None keeps zmq's default of 1000.
            timeout: seconds a send or receive may take before ZmqTimeoutError;
                None waits forever.
            linger: seconds unsent messages are kept after close().
        """
        self.bind = self._binds_by_default if bind is None else bind
        self._timeout = timeout
        self._hwm = hwm
        self._linger_ms = int(linger * 1000)
        self.address = resolve_address(host=host, port=port, address=address, service=service, bind=self.bind)
        self._socket = self._open_socket()

    def _open_socket(self) -> zmq.Socket:
        """A socket with this object's options, bound or connected to ``self.address``.

        After binding, ``self.address`` becomes the bound endpoint (the real
        port when port 0 was asked), so that a reopened socket comes back there.
        """
        sock = zmq.Context.instance().socket(self._socket_type)
        try:
            sock.linger = self._linger_ms
            if self._hwm is not None:
                sock.sndhwm = sock.rcvhwm = self._hwm
            sock.sndtimeo = sock.rcvtimeo = _milliseconds(self._timeout)
            sock.ipv6 = is_ipv6(self.address)
            self._configure(sock)
            if self.bind:
                sock.bind(self.address)
                self.address = sock.last_endpoint.decode()
            else:
                sock.connect(self.address)
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
        self._timeout = seconds
        self._socket.sndtimeo = self._socket.rcvtimeo = _milliseconds(seconds)

    def _configure(self, sock: zmq.Socket) -> None:
        """Set role-specific options before bind/connect (subscriptions, for instance)."""

    @property
    def port(self) -> int:
        """The TCP port bound or connected to (the OS's choice after binding port 0)."""
        return int(self.address.rsplit(":", 1)[1])

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
            _send_frames(sock, frames)
            reply = _recv_frames(sock)
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
        try:
            while not self._stop_requested.is_set():
                try:
                    frames = _recv_frames(sock)
                except zmq.Again:
                    continue
                self._awaiting_reply = True
                try:
                    frames = self._encode(handler(self._decode(frames)))
                except Exception as error:  # undecodable request, handler error or unencodable reply
                    self.send_error(error)
                    continue
                except BaseException as error:  # SystemExit, KeyboardInterrupt: answer, then stop
                    self.send_error(error)
                    raise
                _send_frames(sock, frames)
                self._awaiting_reply = False
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
