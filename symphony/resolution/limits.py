"""The kernel's limits on what one ``execve`` may carry, checked before anything starts.

Every engine ends in an ``execve`` — on this machine, or in a container on the engine's
kernel — and a process over these limits would only exit with "Argument list too long"
once the launch is under way (a tmux window just exits 1 with an empty log).
"""

import os
import struct
import sys
from typing import List, Mapping

from ..errors import SpecError

#: the kernel's limit on one argument or one NAME=value string, its final NUL included (MAX_ARG_STRLEN)
MAX_ARG_STRLEN = 131072
#: what execve also copies beyond argv and environment (the program's path, the pointer arrays' ends)
EXEC_HEADROOM = 4096
_POINTER = struct.calcsize("P")
_FS_ENCODING = sys.getfilesystemencoding()


def _encoded(string: str) -> bytes:
    return string.encode(_FS_ENCODING, "surrogateescape")


class SharedEnv:
    """The variables every process of a launch gets (the launching environment, every service's
    address), measured once: a thousand processes sharing 3,000 variables would otherwise
    join and encode the same 3,000 strings a thousand times."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        joined = _encoded("\0".join(map("=".join, env.items())))
        #: the encoded strings, kept only if one of them may be too long (checked per process, to name it)
        self.long_strings = joined.split(b"\0") if len(joined) >= MAX_ARG_STRLEN else None
        self.bytes = (len(joined) + 1 + len(env) * _POINTER) if env else 0

    def bytes_without(self, names: Mapping[str, str]) -> int:
        """The shared variables' bytes once those a process sets itself (``names``) are left out."""
        left_out = [f"{name}={self.env[name]}" for name in names if name in self.env]
        return self.bytes - sum(len(_encoded(string)) + 1 + _POINTER for string in left_out)


_NOTHING_SHARED = SharedEnv({})


def check_exec_size(key: str, argv: List[str], env: Mapping[str, str], shared: SharedEnv = _NOTHING_SHARED) -> None:
    """Refuse, before anything starts, what ``execve`` would reject with E2BIG ("Argument list too long").

    The process's whole environment is ``shared.env`` (on this machine, the launching one
    plus what every process gets) overridden by its own ``env``. Checked: each argument and
    ``NAME=value`` against MAX_ARG_STRLEN, and all of them (with their pointers) against
    this system's ARG_MAX. The strings are measured in C (joined, encoded once): 100
    processes sharing 300 service variables are 30,000 strings, which a Python loop takes
    milliseconds over; they are split (to find one too long) only when all of them together
    are that long.
    """
    if shared.long_strings is not None:
        _refuse_long_string(key, "variable", [s for s in shared.long_strings
                                              if s.split(b"=", 1)[0].decode(_FS_ENCODING, "surrogateescape") not in env])
    sizes = {}
    for what, values in (("argument", argv), ("variable", list(map("=".join, env.items())))):
        joined = _encoded("\0".join(values))
        if len(joined) >= MAX_ARG_STRLEN:  # (else no one string can be: the common case skips the split)
            _refuse_long_string(key, what, joined.split(b"\0"))
        # each string, its NUL and its pointer: the joined bytes hold every string and all NULs but one
        sizes[what] = (len(joined) + 1 + len(values) * _POINTER) if values else 0
    arguments, variables = sizes["argument"], sizes["variable"] + shared.bytes_without(env)
    limit = os.sysconf("SC_ARG_MAX")
    if arguments + variables > limit - EXEC_HEADROOM:
        whole = {**shared.env, **env}
        largest = ", ".join(sorted(whole, key=lambda name: len(whole[name]), reverse=True)[:3])
        raise SpecError(f"process {key!r}: its arguments and environment total {arguments + variables} bytes "
                        f"({arguments} in arguments; largest variables {largest}), over this system's limit of "
                        f"{limit} (ARG_MAX): pass large data in files instead")


def _refuse_long_string(key: str, what: str, encoded: List[bytes]) -> None:
    """Raise if one of the ``encoded`` strings is over MAX_ARG_STRLEN."""
    string = next((string for string in encoded if len(string) >= MAX_ARG_STRLEN), None)
    if string is None:
        return
    text = string.decode(_FS_ENCODING, "surrogateescape")
    name = f"argument {text[:30] + '...'!r}" if what == "argument" else \
        f"environment variable {text.split('=', 1)[0]} (NAME=value)"
    raise SpecError(f"process {key!r}: {name} is {len(string)} bytes, over the kernel's limit of "
                    f"{MAX_ARG_STRLEN - 1} bytes for one {what}: pass large data in a file instead")
