"""caraml's default wire format: pickle protocol 5 with large buffers in frames of their own.

**Unpickling runs code chosen by the sender: use it only between trusted
processes of one experiment.**

Frames of a message:

* Usually ``[pickle stream, buffer, buffer, ...]``. Buffers of at least
  :data:`OUT_OF_BAND_MIN_BYTES` travel out of band, as frames sent with
  ``copy=False``, so they are copied neither into the pickle stream nor into
  zmq: numpy arrays and ``pickle.PickleBuffer`` anywhere in the message, and
  ``bytes``/``bytearray`` when they are the message or a value of a message
  ``dict`` (deeper ones are pickled in-band, copied once). Smaller buffers stay
  in the stream: one frame is cheaper than several for small messages.
* A message that is one plain numpy array skips pickle: ``[header, array
  buffer]``, the frames hand-written pyzmq code would send. Pickling an array
  costs a few microseconds of global and dtype lookups per message, which
  shows when arrays stream at tens of thousands per second.

On receive, numpy arrays are rebuilt on top of the received frames without a
copy; they are writable, since a received frame belongs to the receiver alone,
and the frame lives as long as the array. ``bytes`` and ``bytearray`` are
copied once, as they must own their memory; a ``PickleBuffer`` comes back as a
memoryview over the frame.

numpy is never imported here unless a received message holds an array.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

# Below this size a buffer is cheaper to copy than to send as its own frame;
# it matches pyzmq's own COPY_THRESHOLD, under which copy=False copies anyway.
OUT_OF_BAND_MIN_BYTES = 65536

# First byte of the header frame of a bare array; a pickle stream starts with 0x80.
_ARRAY_MARKER = b"\x00"

_BYTES_TYPES = (bytes, bytearray)


# numpy.ndarray once numpy is loaded (caraml never imports numpy itself).
_ndarray: type | None = None

_dumps = pickle.dumps
_loads = pickle.loads


class _LargeBuffer(Exception):
    """Raised by the fast path's buffer callback: this message has a buffer worth sending out of band."""


def _in_band_unless_large(buffer: pickle.PickleBuffer) -> bool:
    if buffer.raw().nbytes < OUT_OF_BAND_MIN_BYTES:
        return True
    raise _LargeBuffer


def encode(obj: Any) -> list:
    """Frames for ``obj``; see the module docstring.

    Small messages, the ones whose cost per message shows, take one
    ``pickle.dumps`` call and no per-call allocations besides the frame list:
    the first large buffer aborts that attempt, and the message is pickled
    again collecting its large buffers (a few microseconds, against the 64 kB
    or more that then travel without a copy).
    """
    global _ndarray
    kind = type(obj)
    if _ndarray is None:
        numpy = sys.modules.get("numpy")  # without numpy loaded, obj cannot be an array
        if numpy is not None:
            _ndarray = numpy.ndarray
    if kind is _ndarray:
        frames = _encode_array(obj)
        if frames is not None:
            return frames
    elif kind is dict:
        for value in obj.values():
            if type(value) in _BYTES_TYPES and len(value) >= OUT_OF_BAND_MIN_BYTES:
                return _encode_out_of_band(_wrap_large_bytes(obj))
    elif kind in _BYTES_TYPES and len(obj) >= OUT_OF_BAND_MIN_BYTES:
        return _encode_out_of_band(_OutOfBandBytes(obj))
    try:
        return [_dumps(obj, 5, buffer_callback=_in_band_unless_large)]
    except _LargeBuffer:
        return _encode_out_of_band(obj)


def _encode_out_of_band(obj: Any) -> list:
    """``[stream, buffer, ...]`` with every buffer of at least OUT_OF_BAND_MIN_BYTES in a frame of its own."""
    out_of_band = []

    def keep_small_buffers_in_band(buffer: pickle.PickleBuffer) -> bool:
        memory = buffer.raw()
        if memory.nbytes < OUT_OF_BAND_MIN_BYTES:
            return True
        out_of_band.append(memory)
        return False

    stream = _dumps(obj, 5, buffer_callback=keep_small_buffers_in_band)
    return [stream, *out_of_band]


def decode(frames: list) -> Any:
    """The object ``frames`` encode; frames after the first should be zero-copy views."""
    if len(frames) == 1:
        return _loads(frames[0])  # the common small message (a bare array always has two frames)
    head = frames[0]
    if head[:1] == _ARRAY_MARKER:
        return _decode_array(head, frames[1])
    return _loads(head, buffers=frames[1:])


def _encode_array(array) -> list | None:
    """``[header, buffer]`` for an array whose dtype a string describes, else None."""
    dtype = array.dtype
    if dtype.hasobject or dtype.fields is not None:
        return None  # object pointers and structured fields need pickle
    try:
        memory = pickle.PickleBuffer(array).raw()
    except (BufferError, ValueError):
        return None  # not contiguous, or a dtype numpy cannot export (datetime, strings)
    order = "C" if array.flags.c_contiguous else "F"
    return [_ARRAY_MARKER + pickle.dumps((dtype.str, array.shape, order), protocol=5), memory]


def _decode_array(head: bytes, memory):
    import numpy

    dtype, shape, order = pickle.loads(head[1:])
    return numpy.frombuffer(memory, dtype=dtype).reshape(shape, order=order)


class _OutOfBandBytes:
    """Stand-in that makes pickle offer a ``bytes``/``bytearray``'s memory out of band.

    Protocol 5 sends out of band only objects whose reduction yields a
    PickleBuffer (numpy arrays, PickleBuffer itself); the C pickler saves
    ``bytes`` and ``bytearray`` into the stream without consulting any hook, so
    large ones are wrapped before pickling.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray):
        self.data = data

    def __reduce_ex__(self, protocol):
        return type(self.data), (pickle.PickleBuffer(self.data),)


def _wrap_large_bytes(obj: Any) -> Any:
    """Wrap large bytes/bytearrays that are the message, or a value of a message dict (the common shapes).

    Looking deeper would cost a Python-level walk over every message; this
    look costs a few tens of nanoseconds per dict value.
    """
    if type(obj) is dict:
        for value in obj.values():
            if type(value) in _BYTES_TYPES and len(value) >= OUT_OF_BAND_MIN_BYTES:
                return {
                    key: _wrap_large_bytes(item) if type(item) in _BYTES_TYPES else item for key, item in obj.items()
                }
        return obj
    if type(obj) in _BYTES_TYPES and len(obj) >= OUT_OF_BAND_MIN_BYTES:
        return _OutOfBandBytes(obj)
    return obj
