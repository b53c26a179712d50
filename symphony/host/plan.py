"""The local backend's plan: for each process the exact argv, cwd and environment.

The plan is plain data (``to_dict``/``from_dict``) because the launcher stores it
in the state database and the detached supervisor reads it back from there: the
supervisor executes exactly what ``--dry-run`` prints.
"""

import os
import shlex
import shutil
import struct
import sys
from dataclasses import dataclass, field, fields

from ..errors import SpecError
from ..host.processes import RUN_ID_VAR
from ..networking import resolve
from ..spec.commands import preamble_lines, process_argv, user_env
from ..spec.secrets import SECRETS_DIR_VAR, secret_files


@dataclass
class ProcessPlan:
    key: str
    group: str
    name: str
    argv: list
    cwd: str
    env: dict              # added to the launcher's environment; SYMPH_* last, so nothing overrides them
    restart_policy: str
    log_path: str


@dataclass
class LocalPlan:
    backend: str
    experiment: str
    run_id: str
    ports: dict
    processes: list = field(default_factory=list)
    restart_backoff: float = 1.0
    grace: float = 5.0
    secrets: list = field(default_factory=list)   # [file name, source path]: copied privately at launch
    secrets_dir: str = None

    def to_dict(self):
        """Plain data for the state database (shallow: ``asdict`` would deep-copy every environment)."""
        data = dict(vars(self))
        data["processes"] = [dict(vars(process)) for process in self.processes]
        return data

    @classmethod
    def from_dict(cls, data):
        """The plan from its stored dict; keys a backend built on this plan adds (tmux: its server) are its own."""
        data = {name: value for name, value in data.items() if name in _PLAN_FIELDS}
        data["processes"] = [ProcessPlan(**p) for p in data["processes"]]
        return cls(**data)

    def render(self):
        """The plan as a person reads it: what ``apply`` will run, one block per process."""
        lines = [f"# {self.backend} experiment {self.experiment!r}: {len(self.processes)} processes",
                 "# ports: " + (", ".join(f"{name}={port}" for name, port in sorted(self.ports.items())) or "none")]
        for process in self.processes:
            lines.append(f"process {process.key}")
            lines.append(f"  command: {shlex.join(process.argv)}")
            lines.append(f"  cwd: {process.cwd}")
            lines.append(f"  restart: {process.restart_policy}")
            lines.append(f"  log: {process.log_path}")
            lines.append("  env:")
            for name, value in sorted(process.env.items()):
                if name != RUN_ID_VAR:
                    lines.append(f"    {name}={shlex.quote(value)}")
        return "\n".join(lines)


_PLAN_FIELDS = {f.name for f in fields(LocalPlan)}


def log_path_for(log_dir, key):
    return os.path.join(log_dir, key.replace("/", "__") + ".log")


def build_plan(exp, rule, *, backend, run_id, log_dir, cluster_preamble=(), shell="/bin/bash",
               restart_backoff=1.0, grace=5.0):
    """Resolve addresses under ``rule`` and turn every process into a :class:`ProcessPlan`."""
    book = resolve(exp, rule)
    symph_env = book.env()
    symph_env.update({RUN_ID_VAR: run_id, "SYMPH_EXPERIMENT": exp.name})
    secrets = [[key, path] for key, path in secret_files(exp)]
    secrets_dir = os.path.join(log_dir, "secrets") if secrets else None
    if secrets:
        symph_env[SECRETS_DIR_VAR] = secrets_dir
    processes = []
    for process in exp.list_all_processes():
        preamble = preamble_lines(process, cluster_preamble)
        argv = process_argv(process, preamble, shell)
        cwd = os.path.abspath(os.path.expanduser(process.cwd or os.getcwd()))
        if not os.path.isdir(cwd):
            raise SpecError(f"process {process.key!r}: working directory {cwd} does not exist: create it or fix cwd=")
        env = user_env(process)
        env.update(symph_env)
        env["SYMPH_PROCESS"] = process.key
        if not preamble and not process.cmds:
            _check_executable(process, argv[0], cwd, env)
        check_exec_size(process.key, argv, {**os.environ, **env})
        processes.append(ProcessPlan(
            key=process.key, group=process.group.name if process.group else "", name=process.name,
            argv=argv, cwd=cwd, env=env, restart_policy=process.effective_restart_policy(),
            log_path=log_path_for(log_dir, process.key)))
    return LocalPlan(backend=backend, experiment=exp.name, run_id=run_id, ports=book.ports(),
                     processes=processes, restart_backoff=restart_backoff, grace=grace,
                     secrets=secrets, secrets_dir=secrets_dir)


#: the kernel's limit on one argument or one NAME=value string, its final NUL included (MAX_ARG_STRLEN)
MAX_ARG_STRLEN = 131072
#: what execve also copies beyond argv and environment (the program's path, the pointer arrays' ends)
EXEC_HEADROOM = 4096
_POINTER = struct.calcsize("P")
_FS_ENCODING = sys.getfilesystemencoding()


def check_exec_size(key, argv, env):
    """Refuse, before anything starts, what ``execve`` would reject with E2BIG ("Argument list too long").

    The local supervisor would only report that once the launch is under way, and a tmux
    window just exits 1 with an empty log. ``env`` is the process's whole environment
    (the launching one plus the plan's). Checked: each argument and ``NAME=value`` against
    MAX_ARG_STRLEN, and all of them (with their pointers) against this system's ARG_MAX.
    The strings are measured in C (joined, encoded once): 100 processes sharing 300 service
    variables are 30,000 strings, which a Python loop takes milliseconds over.
    """
    strings = {"argument": _encoded(argv), "variable": _encoded(map("=".join, env.items()))}
    for what, encoded in strings.items():
        if max(map(len, encoded), default=0) >= MAX_ARG_STRLEN:
            string = next(string for string in encoded if len(string) >= MAX_ARG_STRLEN)
            text = string.decode(_FS_ENCODING, "surrogateescape")
            name = f"argument {text[:30] + '...'!r}" if what == "argument" else \
                f"environment variable {text.split('=', 1)[0]} (NAME=value)"
            raise SpecError(f"process {key!r}: {name} is {len(string)} bytes, over the kernel's limit of "
                            f"{MAX_ARG_STRLEN - 1} bytes for one {what}: pass large data in a file instead")
    arguments, variables = (sum(map(len, encoded)) + len(encoded) * (1 + _POINTER) for encoded in strings.values())
    limit = os.sysconf("SC_ARG_MAX")
    if arguments + variables > limit - EXEC_HEADROOM:
        largest = ", ".join(sorted(env, key=lambda name: len(env[name]), reverse=True)[:3])
        raise SpecError(f"process {key!r}: its arguments and environment total {arguments + variables} bytes "
                        f"({arguments} in arguments; largest variables {largest}), over this system's limit of "
                        f"{limit} (ARG_MAX): pass large data in files instead")


def _encoded(strings):
    """The strings as the kernel gets them (os.fsencode's encoding): one encode of them all, split."""
    joined = "\0".join(strings)
    return joined.encode(_FS_ENCODING, "surrogateescape").split(b"\0") if joined else []


def _check_executable(process, program, cwd, env):
    """Catch a misspelt program before anything starts (only for exec form without preamble)."""
    path = env.get("PATH", os.environ.get("PATH", os.defpath))
    if os.sep in program:
        candidate = program if os.path.isabs(program) else os.path.join(cwd, program)
        found = os.path.isfile(candidate) and os.access(candidate, os.X_OK)
    else:
        found = shutil.which(program, path=path) is not None
    if not found:
        raise SpecError(f"process {process.key!r}: program {program!r} not found or not executable "
                        f"(PATH and cwd {cwd}): fix command= or give a full path")
