"""Running tmux client commands against Symphony's private server.

Every call passes ``-L <server>`` (a socket of its own, so the user's sessions are
never touched) and ``-f /dev/null`` (a server Symphony starts does not read the
user's ``~/.tmux.conf``, whose options could change window indexes or hooks).

The client's environment is reduced to :data:`CLIENT_ENV`: if the call starts the
server, that environment becomes the server's global one, which every window
inherits; the launching environment is given to each session explicitly instead.
"""

import functools
import os
import re
import shutil
import subprocess

from ..errors import BackendUnavailableError
from ..state import open_private

BACKEND = "tmux"
CLIENT_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ",
              "TMUX_TMPDIR")


#: pane_dead_signal (telling "killed by a signal" from an exit) and ``new-session -e`` need 3.3
MINIMUM_VERSION = (3, 3)


@functools.lru_cache(maxsize=None)
def tmux_binary():
    """Path of a tmux that is recent enough (checked once per process)."""
    path = shutil.which("tmux")
    if path is None:
        raise BackendUnavailableError("tmux is not installed: install it (apt-get install tmux, brew install tmux) "
                                      "or use Cluster.new('local')")
    version = subprocess.run([path, "-V"], capture_output=True, text=True).stdout.strip()
    found = re.search(r"(\d+)\.(\d+)", version)
    if found and tuple(int(part) for part in found.groups()) < MINIMUM_VERSION:
        raise BackendUnavailableError(f"{version} is too old: the tmux backend needs tmux "
                                      f"{'.'.join(map(str, MINIMUM_VERSION))} or later")
    return path


def client_environment():
    return {name: os.environ[name] for name in CLIENT_ENV if name in os.environ}


def run_tmux(server_name, *args):
    """Run one tmux client command against ``server_name``; returns the CompletedProcess."""
    return subprocess.run([tmux_binary(), "-L", server_name, "-f", os.devnull, *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=client_environment())


def source_script(server_name, path, text):
    """Write ``text`` (tmux commands) to a private file at ``path`` and have the server run it in one call."""
    with open_private(path, "w") as handle:
        handle.write(text)
    try:
        return run_tmux(server_name, "start-server", ";", "source-file", path)
    finally:
        os.unlink(path)
