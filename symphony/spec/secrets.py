"""Experiment secrets (``new_experiment(name, secrets=['~/.mjkey.txt'])``), on every backend.

Each file becomes ``<secrets dir>/<file name>`` for every process, and the directory is
given to processes as ``SYMPH_SECRETS_DIR``: ``/etc/secrets`` in containers (a
Kubernetes Secret, read-only bind mounts on Docker), a private per-experiment copy on
local backends. Contents never appear in plans, logs or saved specs — only file names.

File names must be valid Kubernetes Secret keys on every backend, so an experiment that
runs on the laptop also launches on a cluster (and the API server never refuses the
Secret after the namespace exists). For the same reason they must be regular files that
together fit in one Secret (1 MiB): a pipe, a device or a huge file would hang a dry run,
or be copied until the disk is full, on the local backends.
"""

import os
import re
import stat
from typing import TYPE_CHECKING, Dict, List, Tuple

from ..errors import SpecError
from .brief import brief

if TYPE_CHECKING:
    from .model import ExperimentSpec

CONTAINER_SECRETS_DIR = "/etc/secrets"
SECRETS_DIR_VAR = "SYMPH_SECRETS_DIR"
SECRET_KEY_MAX = 253
#: the contents one Kubernetes Secret holds, all files together (the API server's MaxSecretSize)
SECRETS_MAX_BYTES = 1024 * 1024
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def secret_files(exp: "ExperimentSpec") -> List[Tuple[str, str]]:
    """``[(file name, absolute path)]``, checked readable, regular, uniquely named and at most
    SECRETS_MAX_BYTES in all, before anything starts.

    A file is looked at (``os.stat``) before it is opened: opening a FIFO waits for a writer forever.
    """
    files: List[Tuple[str, str]] = []
    sources: Dict[str, str] = {}
    total = 0
    for entry in exp.secrets:
        path = os.path.abspath(os.path.expanduser(entry))
        key = os.path.basename(path)
        if key in sources:
            raise SpecError(f"secrets {brief(sources[key])} and {brief(entry)} have the same file name {key!r}: "
                            f"both would be {CONTAINER_SECRETS_DIR}/{key}; rename one")
        try:
            info = os.stat(path)
        except OSError as exc:
            raise _unreadable(entry, exc) from None
        if stat.S_ISDIR(info.st_mode):
            raise SpecError(f"secret {brief(entry)} is a directory: list the files in it instead")
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(f"secret {brief(entry)} is {_file_kind(info.st_mode)}, not a regular file: "
                            f"save what it provides to a file and list that file")
        _check_key(entry, key)
        total += info.st_size
        if total > SECRETS_MAX_BYTES:
            raise SpecError(f"secret {brief(entry)} ({info.st_size} bytes) brings the experiment's secrets to "
                            f"{total} bytes, over the 1 MiB ({SECRETS_MAX_BYTES} bytes) one "
                            f"Kubernetes Secret holds: keep large files out of secrets=[...] and mount them instead")
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise _unreadable(entry, exc) from None
        sources[key] = entry
        files.append((key, path))
    return files


def _unreadable(entry: str, exc: OSError) -> SpecError:
    return SpecError(f"secret file {brief(entry)} cannot be read ({exc.strerror}): fix the path or its permissions")


def _file_kind(mode: int) -> str:
    kinds = {stat.S_ISFIFO: "a named pipe (FIFO)", stat.S_ISCHR: "a character device",
             stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket"}
    return next((kind for test, kind in kinds.items() if test(mode)), "a special file")


def _check_key(entry: str, key: str) -> None:
    """The file name becomes a Secret key: letters, digits, '-', '_', '.', at most 253, not '..'-prefixed."""
    if len(key) <= SECRET_KEY_MAX and _SECRET_KEY.fullmatch(key) and not key.startswith(".."):
        return
    suggestion = re.sub(r"[^-._a-zA-Z0-9]+", "-", key).lstrip(".")[:SECRET_KEY_MAX] or "secret"
    raise SpecError(f"secret {brief(entry)}: its file name {brief(key)} cannot be a secret key (use at most "
                    f"{SECRET_KEY_MAX} letters, digits, '-', '_' or '.'): rename the file, e.g. to {suggestion!r}")
