"""caraml 0.x's object <-> bytes helpers, with their original meaning.

These are one-frame ``obj -> bytes`` functions, as the 0.x sockets took them:
``get_serializer(None)`` is the identity (bytes sent as they are), unlike the
sockets' ``serializer=None``, which now means pickle. Pass any of these
functions to a socket as ``serializer=``/``deserializer=``. The 'pyarrow'
format is gone with ``pyarrow.serialize``; asking for it raises a
``ValueError`` naming the replacement, 'pickle'.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
from collections.abc import Callable
from typing import Any

from caraml.zmq.serializers import PYARROW_REFUSAL

__all__ = [
    "binary_hash",
    "bytes2str",
    "get_deserializer",
    "get_serializer",
    "pa_deserialize",
    "pa_serialize",
    "pyobj_hash",
    "str2bytes",
    "string_hash",
]


def pa_serialize(obj: Any) -> bytes:
    raise ValueError(PYARROW_REFUSAL)


def pa_deserialize(binary: bytes) -> Any:
    raise ValueError(PYARROW_REFUSAL)


def bytes2str(bytestring: bytes | str) -> str:
    return bytestring if isinstance(bytestring, str) else bytes(bytestring).decode("UTF-8")


def str2bytes(string: str | bytes) -> bytes:
    return string if isinstance(string, bytes) else string.encode("UTF-8")


_SERIALIZERS: dict[str, Callable[[Any], bytes]] = {
    "str": str2bytes,
    "pickle": pickle.dumps,
    "json": lambda data: str2bytes(json.dumps(data)),
}

_DESERIALIZERS: dict[str, Callable[[bytes], Any]] = {
    "str": bytes2str,
    "pickle": pickle.loads,
    "json": lambda data: json.loads(bytes2str(data)),
}


def _identity(x: Any) -> Any:
    return x


def _lookup(spec: str | Callable | None, table: dict[str, Callable], role: str) -> Callable:
    if spec is None:
        return _identity
    if isinstance(spec, str):
        name = spec.lower()
        if name == "pyarrow":
            raise ValueError(PYARROW_REFUSAL)
        if name not in table:
            raise ValueError(f"{role} must be either a callable or one of {list(table)}, got {spec!r}")
        return table[name]
    if callable(spec):
        return spec
    raise ValueError(f"{role} must be either a callable or one of {list(table)}, got {spec!r}")


def get_serializer(serializer: str | Callable | None) -> Callable[[Any], bytes]:
    """A format name ('str', 'pickle', 'json'), a callable (returned as is) or None (the identity)."""
    return _lookup(serializer, _SERIALIZERS, "serializer")


def get_deserializer(deserializer: str | Callable | None) -> Callable[[bytes], Any]:
    """A format name ('str', 'pickle', 'json'), a callable (returned as is) or None (the identity)."""
    return _lookup(deserializer, _DESERIALIZERS, "deserializer")


def binary_hash(binary: bytes) -> str:
    """A 16-character base64 digest (md5) of ``binary``: a short, low-collision key, not a security hash."""
    return base64.b64encode(hashlib.md5(binary).digest())[:16].decode("utf-8")


def string_hash(s: str) -> str:
    if not isinstance(s, str):
        raise TypeError(f"string_hash takes a str, got {type(s).__name__}")
    return binary_hash(s.encode("utf-8"))


def pyobj_hash(obj: Any, serializer: str | Callable | None) -> str:
    return binary_hash(get_serializer(serializer)(obj))
