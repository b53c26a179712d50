"""Turn Python objects into ZeroMQ frames and back.

An *encoder* maps an object to a list of frames (bytes-like objects); a
*decoder* maps the received frames back, where the first frame is ``bytes``
and any further frames are writable memoryviews over the received zmq frames.

Built-in formats, chosen by name with ``serializer=``:

``'pickle'`` (default)
    Pickle protocol 5, with numpy arrays and other large buffers sent as frames
    of their own without copying, and received arrays backed by the received
    frames; see :mod:`caraml.zmq.pickle_codec`. **Unpickling runs code chosen
    by the sender: use pickle only between trusted processes of one experiment.**
``'json'``
    UTF-8 JSON; portable, no arrays.
``'msgpack'``
    Needs the optional ``msgpack`` package (``pip install msgpack``).
``'str'``
    A ``str`` sent as UTF-8.
``'raw'``
    Bytes-like objects in, ``bytes`` out; large buffers are sent without copy.

Or pass your own pair, ``serializer=obj -> bytes`` and ``deserializer=bytes -> obj``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from caraml.zmq import pickle_codec
from caraml.zmq.errors import ZmqSerializerUnavailable

Frames = list
Encoder = Callable[[Any], Frames]
Decoder = Callable[[Frames], Any]
SerializerSpec = str | Callable[[Any], Any] | None

DEFAULT_SERIALIZER = "pickle"


def _json_encode(obj: Any) -> Frames:
    return [json.dumps(obj).encode()]


def _json_decode(frames: Frames) -> Any:
    return json.loads(frames[0])


def _str_encode(obj: Any) -> Frames:
    if not isinstance(obj, str):
        raise TypeError(f"serializer='str' sends str only, got {type(obj).__name__}")
    return [obj.encode()]


def _str_decode(frames: Frames) -> Any:
    return frames[0].decode()


def _raw_encode(obj: Any) -> Frames:
    try:
        memoryview(obj)
    except TypeError:
        raise TypeError(f"serializer='raw' sends bytes-like objects only, got {type(obj).__name__}") from None
    return [obj]


def _raw_decode(frames: Frames) -> Any:
    return frames[0]


def _msgpack_codec() -> tuple[Encoder, Decoder]:
    try:
        import msgpack
    except ImportError:
        raise ZmqSerializerUnavailable(
            "serializer='msgpack' needs the msgpack package: pip install msgpack (or symphony[msgpack])"
        ) from None
    return (lambda obj: [msgpack.packb(obj)]), (lambda frames: msgpack.unpackb(frames[0]))


# Format name -> a function returning its (encoder, decoder); msgpack's imports msgpack
# when a socket asks for it, so that a missing package fails there, clearly.
_FORMATS: dict[str, Callable[[], tuple[Encoder, Decoder]]] = {
    "pickle": lambda: (pickle_codec.encode, pickle_codec.decode),
    "json": lambda: (_json_encode, _json_decode),
    "msgpack": _msgpack_codec,
    "str": lambda: (_str_encode, _str_decode),
    "raw": lambda: (_raw_encode, _raw_decode),
}


# caraml 0.x's format for numpy data; pyarrow has since removed pyarrow.serialize.
PYARROW_REFUSAL = (
    "serializer='pyarrow' is gone (pyarrow removed pyarrow.serialize): use 'pickle', "
    "which sends numpy arrays without copying"
)


def _format(name: str) -> tuple[Encoder, Decoder]:
    name = name.lower()  # caraml 0.x accepted 'PICKLE' too
    try:
        make_codec = _FORMATS[name]
    except KeyError:
        if name == "pyarrow":
            raise ValueError(PYARROW_REFUSAL) from None
        raise ValueError(f"unknown serializer {name!r}: use one of {sorted(_FORMATS)} or a callable") from None
    return make_codec()


def get_encoder(serializer: SerializerSpec) -> Encoder:
    """Encoder for ``serializer``: a format name, a callable ``obj -> bytes`` or None (pickle)."""
    if serializer is None:
        serializer = DEFAULT_SERIALIZER
    if isinstance(serializer, str):
        return _format(serializer)[0]
    if not callable(serializer):
        raise TypeError(f"serializer must be a format name or a callable, got {serializer!r}")
    return lambda obj: [serializer(obj)]


def get_decoder(serializer: SerializerSpec, deserializer: SerializerSpec) -> Decoder:
    """Decoder matching the wire format: ``deserializer`` if given, else the format ``serializer`` names."""
    if deserializer is None:
        if serializer is None:
            serializer = DEFAULT_SERIALIZER
        if not isinstance(serializer, str):
            raise ValueError("serializer= is a callable, so deserializer= (bytes -> object) is needed too")
        deserializer = serializer
    if isinstance(deserializer, str):
        return _format(deserializer)[1]
    if not callable(deserializer):
        raise TypeError(f"deserializer must be a format name or a callable, got {deserializer!r}")
    return lambda frames: deserializer(frames[0])
