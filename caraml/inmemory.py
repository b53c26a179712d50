"""Hand large results from one process to another on the same machine through memory-mapped files.

caraml 0.x's API (used by :class:`caraml.zmq.DataFetcher`): the writer calls
:func:`inmem_serialize` and sends the returned file name, a few bytes, over a
socket; the reader calls :func:`inmem_deserialize` and gets a
:class:`SharedMemoryObject` whose ``.data`` is the object, with its numpy
arrays and other buffers *viewing the mapped file* instead of copied out of a
message. Only the name crosses the socket, so a 100 MB batch costs the reader
a page-table update rather than a copy.

The file holds pickle protocol 5 with every buffer out of band, so
**loading it runs code chosen by the writer: use it only between trusted
processes of one experiment.** (caraml 0.x wrote pyarrow's serialization,
which pyarrow has removed; files are not exchangeable between the two.)

File layout: ``MAGIC``, then a little-endian uint64 count *n*, then *n* + 1
(offset, length) uint64 pairs (the pickle stream, then each buffer), then the
data, each buffer starting on a 64-byte boundary so numpy sees aligned memory.
"""

from __future__ import annotations

import mmap
import os
import pickle
import struct
import uuid
from typing import Any

__all__ = ["TEMP_FOLDER", "SharedMemoryObject", "inmem_deserialize", "inmem_dump", "inmem_serialize", "memory_usage"]

# Where files are written; read at each call, so it can be changed at run time.
TEMP_FOLDER = "/tmp/caraml"
# File name -> True for every SharedMemoryObject created with debug=True and not yet deleted.
memory_usage: dict[str, bool] = {}

MAGIC = b"CARAMLM1"
_ALIGNMENT = 64
_COUNT = struct.Struct("<Q")
_SPAN = struct.Struct("<QQ")


def _new_name(name: str | None) -> str:
    if name is not None:
        return name
    os.makedirs(TEMP_FOLDER, exist_ok=True)
    return os.path.join(TEMP_FOLDER, str(uuid.uuid4()))


def inmem_dump(data: bytes, name: str | None = None) -> bytes:
    """Write the bytes ``data`` as they are to a new file (in TEMP_FOLDER unless ``name``); return its name as bytes."""
    name = _new_name(name)
    with open(name, "wb") as file:
        file.write(data)
    return name.encode()


def inmem_serialize(data: Any, name: str | None = None) -> bytes:
    """Write ``data`` (any picklable object) to a new file for :func:`inmem_deserialize`; return its name as bytes."""
    buffers: list[memoryview] = []
    stream = pickle.dumps(data, protocol=5, buffer_callback=lambda buffer: buffers.append(buffer.raw()))
    parts = [stream, *buffers]
    offset = len(MAGIC) + _COUNT.size + _SPAN.size * len(parts)
    spans = []
    for part in parts:
        offset = -(-offset // _ALIGNMENT) * _ALIGNMENT
        spans.append((offset, part.nbytes if isinstance(part, memoryview) else len(part)))
        offset += spans[-1][1]
    name = _new_name(name)
    with open(name, "wb") as file:
        file.write(MAGIC + _COUNT.pack(len(buffers)) + b"".join(_SPAN.pack(*span) for span in spans))
        for part, (start, _) in zip(parts, spans):
            file.write(b"\0" * (start - file.tell()))
            file.write(part)
    return name.encode()


def inmem_deserialize(name_bin: bytes | str) -> SharedMemoryObject:
    """Map the file :func:`inmem_serialize` wrote; the object is the result's ``.data``."""
    return SharedMemoryObject(name_bin.decode() if isinstance(name_bin, bytes) else name_bin)


class SharedMemoryObject:
    """A file written by :func:`inmem_serialize`, mapped, with the object it holds as ``.data``.

    The mapping is private copy-on-write, so arrays in ``.data`` are writable
    without touching the file or other readers. :meth:`delete` (also run
    when the object is garbage-collected) removes the file; arrays still in
    use keep their memory until they are gone.
    """

    def __init__(self, filename: str, debug: bool = False):
        self.debug = debug
        self.filename = filename
        self.deleted = False
        if debug:
            print(f"Shared memory with name {filename} created")
            memory_usage[filename] = True
        self.file = open(filename, "rb")
        self._mapping = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_COPY)
        self.buffer = memoryview(self._mapping)
        if self.buffer[: len(MAGIC)] != MAGIC:
            raise ValueError(f"{filename} was not written by caraml.inmemory.inmem_serialize")
        (count,) = _COUNT.unpack_from(self.buffer, len(MAGIC))
        spans = [_SPAN.unpack_from(self.buffer, len(MAGIC) + _COUNT.size + _SPAN.size * i) for i in range(count + 1)]
        parts = [self.buffer[start : start + length] for start, length in spans]
        self.data = pickle.loads(parts[0], buffers=parts[1:])

    def delete(self) -> None:
        """Remove the file; the memory goes once nothing views it any more."""
        if self.deleted:
            return
        self.deleted = True
        if self.debug:
            memory_usage.pop(self.filename, None)
            print(f"Shared memory with name {self.filename} deleted")
            print(f"Memory entries: {len(memory_usage)}")
        self.file.close()
        try:
            os.remove(self.filename)
        except FileNotFoundError:
            pass

    def __del__(self):
        if "deleted" in self.__dict__ and "file" in self.__dict__:
            self.delete()
