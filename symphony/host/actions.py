"""exec / ssh / scp for backends whose processes run on this host (local, tmux).

A backend mixing this in provides ``process_environment(experiment, process)``
returning ``(env, cwd)``; the commands then run with that environment in that
directory, which is what "inside the process" means when there is no container.
"""

import os
import sys

from ..errors import SymphonyError


class HostProcessActions:
    def exec_command(self, experiment, process, argv):
        import subprocess  # (here, as below: only these verbs need it, not `symphony p`)
        env, cwd = self.process_environment(experiment, process)
        try:
            return subprocess.call(list(argv), env={**os.environ, **env}, cwd=cwd)
        except FileNotFoundError:  # exit codes as a shell gives them, so scripts can tell the cases apart
            print(f"symphony: {argv[0]}: command not found", file=sys.stderr)
            return 127
        except PermissionError:
            print(f"symphony: {argv[0]}: permission denied (not executable)", file=sys.stderr)
            return 126

    def shell(self, experiment, process):
        return self.exec_command(experiment, process, [os.environ.get("SHELL") or "/bin/bash"])

    def _host_path(self, experiment, end):
        process, path = end
        path = os.path.expanduser(path)
        if process is None or os.path.isabs(path):
            return path
        return os.path.join(self.process_environment(experiment, process)[1], path)

    def copy(self, experiment, source, destination):
        src, dst = self._host_path(experiment, source), self._host_path(experiment, destination)
        if not os.path.exists(src):
            raise SymphonyError(f"cannot copy {src}: no such file or directory")
        if os.path.isdir(dst):
            dst = os.path.join(dst, os.path.basename(src.rstrip(os.sep)))
        import shutil
        if os.path.isdir(src):
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
        return dst
