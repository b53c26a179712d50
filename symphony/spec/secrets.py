"""Experiment secrets (``new_experiment(name, secrets=['~/.mjkey.txt'])``), on every backend.

Each file becomes ``<secrets dir>/<file name>`` for every process, and the directory is
given to processes as ``SYMPH_SECRETS_DIR``: ``/etc/secrets`` in containers (a
Kubernetes Secret, read-only bind mounts on Docker), a private per-experiment copy on
local backends. Contents never appear in plans, logs or saved specs — only file names.

File names must be valid Kubernetes Secret keys on every backend, so an experiment that
runs on the laptop also launches on a cluster (and the API server never refuses the
Secret after the namespace exists).
"""

import os
import re

from ..errors import SpecError

CONTAINER_SECRETS_DIR = "/etc/secrets"
SECRETS_DIR_VAR = "SYMPH_SECRETS_DIR"
SECRET_KEY_MAX = 253
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def secret_files(exp):
    """``[(file name, absolute path)]``, checked readable and uniquely named, before anything starts."""
    files, sources = [], {}
    for entry in exp.secrets:
        path = os.path.abspath(os.path.expanduser(entry))
        key = os.path.basename(path)
        if key in sources:
            raise SpecError(f"secrets {sources[key]!r} and {entry!r} have the same file name {key!r}: "
                            f"both would be {CONTAINER_SECRETS_DIR}/{key}; rename one")
        if os.path.isdir(path):
            raise SpecError(f"secret {entry!r} is a directory: list the files in it instead")
        _check_key(entry, key)
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise SpecError(f"secret file {entry!r} cannot be read ({exc.strerror}): "
                            f"fix the path or its permissions") from None
        sources[key] = entry
        files.append((key, path))
    return files


def _check_key(entry, key):
    """The file name becomes a Secret key: letters, digits, '-', '_', '.', at most 253, not '..'-prefixed."""
    if len(key) <= SECRET_KEY_MAX and _SECRET_KEY.fullmatch(key) and not key.startswith(".."):
        return
    suggestion = re.sub(r"[^-._a-zA-Z0-9]+", "-", key).lstrip(".")[:SECRET_KEY_MAX] or "secret"
    raise SpecError(f"secret {entry!r}: its file name {key!r} cannot be a secret key (use at most "
                    f"{SECRET_KEY_MAX} letters, digits, '-', '_' or '.'): rename the file, e.g. to {suggestion!r}")
