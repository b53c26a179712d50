"""Exceptions raised by caraml.zmq.

Each error also derives from the closest built-in exception, so callers that
already catch ``TimeoutError``, ``ValueError`` or ``RuntimeError`` keep working.
"""


class CaramlError(Exception):
    """Base class of every error caraml raises itself."""


class ZmqTimeoutError(CaramlError, TimeoutError):
    """A send or receive did not complete within the socket's ``timeout``."""

    def __init__(self, message: str = "Request Timed Out"):
        # caraml 0.x raised it without arguments; its message was this one.
        super().__init__(message)


class ZmqPairingError(CaramlError, RuntimeError, ValueError):
    """A server broke the strict recv() → send() → recv() order of a REP socket.

    Also a ``ValueError``: caraml 0.x raised ``ValueError`` here, and code that
    catches it keeps working.
    """


class ZmqServiceNotFound(CaramlError, ValueError):
    """A ``service=`` name has no address in the environment Symphony provides."""


class ZmqSerializerUnavailable(CaramlError, ImportError):
    """A serializer was requested whose optional package is not installed."""


class ZmqRemoteError(CaramlError):
    """The server's handler raised; this carries what it raised.

    The server answers with an error reply instead of dying, so the client learns
    why its request failed and the server goes on serving others.

    Attributes:
        remote_type: qualified name of the exception type raised remotely,
            e.g. ``'builtins.KeyError'``.
        remote_message: ``str()`` of the remote exception (its ``repr()``, or
            ``'<unprintable ... object>'``, when ``str()`` raises).
        remote_traceback: the formatted remote traceback, for debugging.
    """

    def __init__(self, remote_type: str, remote_message: str, remote_traceback: str = ""):
        super().__init__(f"{remote_type}: {remote_message}")
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback

    def __reduce__(self):
        return type(self), (self.remote_type, self.remote_message, self.remote_traceback)


class ZmqProxyStartError(CaramlError, RuntimeError):
    """A proxy could not bind its sockets, or its thread or process died before it could."""
