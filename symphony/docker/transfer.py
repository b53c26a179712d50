"""``symphony scp`` on Docker: copies through the engine's archive API, as ``docker cp`` does them.

Either end may be a container (``(process, path)``) or this machine (``(None, path)``).
Copying onto an existing directory puts the source inside it; otherwise the
destination is the copy's new name. A relative path in a container is relative to
its working directory. Nothing here needs the docker command line client.
"""

import io
import os
import posixpath
import tarfile

from ..engines.docker_api import docker_sdk
from ..errors import SymphonyError

#: Go's os.ModeDir bit, as the engine reports it in archive stat headers.
_GO_MODE_DIR = 1 << 31


def copy(container_of, source, destination):
    """Copy ``source`` to ``destination`` (each ``(process or None, path)``); returns the copy's path.

    ``container_of(process)`` is the container of one of the experiment's processes.
    """
    source_tar, source_name = _read(container_of, *source)
    directory, final_name = _destination(container_of, *destination, source_name)
    renamed = _renamed_tar(source_tar, source_name, final_name)
    process, _ = destination
    if process is None:
        with tarfile.open(fileobj=renamed) as archive:
            archive.extractall(directory, filter="data")
        return os.path.join(directory, final_name)
    try:
        container_of(process).put_archive(directory, renamed.getvalue())
    except docker_sdk().errors.NotFound:  # as on the local backend, the folder must exist
        raise SymphonyError(f"cannot copy to {process}:{destination[1]}: directory {directory} "
                            f"does not exist") from None
    return posixpath.join(directory, final_name)


def _container_path(container, path):
    return posixpath.normpath(posixpath.join(container.attrs["Config"]["WorkingDir"] or "/", path))


def _read(container_of, process, path):
    """(tar of ``path`` whose top entry is its base name, that base name)."""
    if process is None:
        path = os.path.abspath(os.path.expanduser(path))
        if not os.path.exists(path):
            raise SymphonyError(f"cannot copy {path}: no such file or directory")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(path, arcname=os.path.basename(path.rstrip(os.sep)))
        buffer.seek(0)
        return buffer, os.path.basename(path.rstrip(os.sep))
    container = container_of(process)
    path = _container_path(container, path)
    try:
        chunks, stat = container.get_archive(path)
    except docker_sdk().errors.NotFound:
        raise SymphonyError(f"cannot copy {process}:{path}: no such file or directory") from None
    return io.BytesIO(b"".join(chunks)), stat["name"]


def _destination(container_of, process, path, source_name):
    """(directory to unpack into, name the copy gets there)."""
    if process is None:
        path = os.path.abspath(os.path.expanduser(path))
        if os.path.isdir(path):
            return path, source_name
        if not os.path.isdir(os.path.dirname(path)):
            raise SymphonyError(f"cannot copy to {path}: directory {os.path.dirname(path)} does not exist")
        return os.path.dirname(path), os.path.basename(path)
    container = container_of(process)
    path = _container_path(container, path)
    try:
        chunks, stat = container.get_archive(path)
        chunks.close()
        if stat["mode"] & _GO_MODE_DIR:
            return path, source_name
    except docker_sdk().errors.NotFound:
        pass
    return posixpath.dirname(path.rstrip("/")) or "/", posixpath.basename(path.rstrip("/"))


def _renamed_tar(source, old_name, new_name):
    """The tar ``source`` with its top entry ``old_name`` renamed to ``new_name``."""
    if old_name == new_name:
        return source
    output = io.BytesIO()
    with tarfile.open(fileobj=source) as reader, tarfile.open(fileobj=output, mode="w") as writer:
        for member in reader:
            if member.name == old_name or member.name.startswith(old_name + "/"):
                member.name = new_name + member.name[len(old_name):]
            writer.addfile(member, reader.extractfile(member) if member.isfile() else None)
    output.seek(0)
    return output
