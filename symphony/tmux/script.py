"""The tmux backend's plan: the local plan plus the tmux commands that realise it.

What each process runs (argv, cwd, environment, log file) is decided once by
:func:`symphony.host.plan.build_plan`, exactly as for the local backend. This module
only translates that plan into tmux's command language, so that the whole session
(every window, its environment and its log pipe) is built by **one** ``tmux source-file``
call instead of a round trip per window. Each window's program is the Symphony runner
(:mod:`symphony.tmux.runner`), which runs the planned argv as its child and applies the
restart policy itself.

Why a script file rather than a long ``tmux a \\; b`` argv: the tmux client sends
its argv to the server in a single message of at most 16 KiB, which a hundred windows
with their environments exceed. The script is one line of commands joined by ``;``,
which tmux treats as one command sequence: if any command fails, the rest is skipped,
so a failed launch never adds windows to someone else's session.

Quoting: every argument is written as a double-quoted tmux string with ``\\``, ``"``,
``$`` (environment expansion) and ``~`` (home expansion) escaped and control
characters written as escapes, so it parses back to exactly the original text.
Arguments that tmux additionally expands as *formats* (``-c``, ``pipe-pane``,
``run-shell``) get ``#`` doubled as well.
"""

import os
import shlex
from dataclasses import dataclass

from ..host.processes import PROCESS_VAR, RUN_ID_VAR
from ..host.plan import LocalPlan, shared_env
from .runner import EVENTS_FILE, QUIET_LOCALE, execve_spec, runner_argv

#: the window ``new-session`` must create; it is closed once the process windows exist
LAUNCH_WINDOW = "__symphony__"
#: what the runners and the log indexer report about themselves (never shown in a pane)
HOOK_LOG = "tmux-hooks.log"
#: the launch's tmux script, beside the logs; it exists while tmux builds the session
LAUNCH_SCRIPT = "launch.tmux"
#: key of the stored plan naming the tmux server the experiment was launched on
SERVER_KEY = "tmux_server"
#: beside the logs: what each held window waits for (``<key>.json``) and, past a deadline, why (``.outcome``)
WAITS_DIR = "waits"
#: beside the logs: the checks and waits of the processes that have any, for ``symphony p``
READINESS_PLAN = "readiness-plan.json"
#: beside the logs: the SYMPH_* variables every process shares, which each window's runner hands its process
SHARED_ENV_FILE = "shared.env"
#: shared SYMPH_* variables that stay on the session all the same: the markers by which a run's processes,
#: the runners included, are found (``delete`` reads the run id from the session), all short
SESSION_MARKERS = (RUN_ID_VAR, PROCESS_VAR, "SYMPH_EXPERIMENT")

#: what ``quote`` replaces: \\ " $ ~ escaped, control characters as tmux escapes (octal if no name)
_ESCAPES = {code: f"\\{code:03o}" for code in (*range(0x20), 0x7F)}
_ESCAPES.update({ord(char): "\\" + char for char in '\\"$~'})
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", ord("\x1b"): "\\e"})


def quote(text):
    """``text`` as a tmux double-quoted string that parses back to exactly ``text``."""
    return '"' + text.translate(_ESCAPES) + '"'


def format_literal(text):
    """Protect ``text`` from tmux format expansion (``#{...}``, ``#S``): double every ``#``."""
    return text.replace("#", "##")


def window_name(key):
    """Window of a process: ``process``, or ``group:process`` inside a group."""
    return key.replace("/", ":")


def window_argv(argv):
    """The argv to give tmux so that it is executed directly.

    tmux hands a *single* argument to ``$SHELL -c``, which would re-split a program
    path containing spaces; wrapping it in ``sh -c 'exec "$0"'`` keeps it verbatim.
    Two or more arguments are executed as they are.
    """
    if len(argv) == 1:
        return ["/bin/sh", "-c", 'exec "$0"', argv[0]]
    return list(argv)


#: the log pipe's filter: CR LF (the terminal's line end) -> LF, streamed chunk by chunk, so a
#: last line without newline is logged at once (sed would hold it back); a CR that ends a chunk
#: waits for the next one, in case its LF is there
_CRLF_FILTER = (r'$|=1; my $cr = ""; while (sysread(STDIN, my $chunk, 65536)) { $chunk = $cr . $chunk; '
                r'$cr = ($chunk =~ s/\r\z//) ? "\r" : ""; $chunk =~ s/\r\n/\n/g; print $chunk } print $cr')


def log_pipe_command(log_path):
    """Shell command that ``pipe-pane`` runs: the pane's output, with LF line ends, appended to the log."""
    return f"exec perl -e {shlex.quote(_CRLF_FILTER)} >> {shlex.quote(log_path)}"


def wait_spec_path(log_dir, key):
    """What the runner of held process ``key`` waits for (read by ``python -m symphony.readiness.wait``)."""
    return os.path.join(log_dir, WAITS_DIR, key.replace("/", "__") + ".json")


def wait_outcome_path(log_dir, key):
    """Where a held window's wait writes why it did not start the process (or started it anyway)."""
    return os.path.join(log_dir, WAITS_DIR, key.replace("/", "__") + ".outcome")


def package_root():
    """Directory holding the ``symphony`` package, so the runners and the indexer tmux starts can import it."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class TmuxPlan:
    """A :class:`~symphony.host.plan.LocalPlan` plus where and how tmux runs it.

    Stored in the state database as the local plan's dict (``to_dict``), so the log
    indexer and ``symphony exec`` read back exactly what was launched.
    """

    local: LocalPlan
    server_name: str
    python: str          # interpreter that runs the log indexer
    home: str            # SYMPHONY_HOME of the launch, handed to it
    perl: str = "perl"   # runs each window's runner

    def __getattr__(self, name):
        # experiment, run_id, processes, secrets...: the local plan's fields, read through
        if name == "local":  # not set yet (copy/unpickle): no recursion
            raise AttributeError(name)
        return getattr(self.local, name)

    def to_dict(self):
        """The local plan's dict (what ``LocalPlan.from_dict`` reads) plus the tmux server it runs on,
        so every later query or delete uses that server whatever server its caller was created with."""
        return {**self.local.to_dict(), SERVER_KEY: self.server_name}

    def attach_command(self):
        return f"tmux -L {shlex.quote(self.server_name)} attach -t {shlex.quote(self.experiment)}"

    def hook_log(self):
        return os.path.join(os.path.dirname(self.processes[0].log_path), HOOK_LOG)

    # --- the pieces of the script ---------------------------------------------------
    def _run_shell(self, module, *args):
        """``run-shell -b`` of ``python -m module args`` with Symphony importable and the run marker set.

        The marker (SYMPH_RUN_ID) lets ``delete`` find and stop it.
        """
        env = {"SYMPHONY_HOME": self.home, RUN_ID_VAR: self.run_id, "PYTHONPATH": package_root()}
        assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
        words = " ".join(shlex.quote(str(arg)) for arg in args)
        command = format_literal(f"{assignments} exec {shlex.quote(self.python)} -m {module} {words}")
        command += format_literal(f" >> {shlex.quote(self.hook_log())} 2>&1")
        return f"run-shell -b {quote(command)}"

    def shared_env(self):
        """Variables every process gets with the same value (service addresses, experiment env, ...).

        They are given once rather than once per window: with a hundred processes binding a
        service each, that is 300 variables instead of 30,000 ``-e``.
        """
        return dict(sorted(shared_env(self.processes).items()))

    @staticmethod
    def split_shared(shared):
        """``(on the session, in the shared file)``: the shared variables split between the session and
        :data:`SHARED_ENV_FILE`, which gets the SYMPH_* ones but the markers (service addresses: three per
        service). tmux copies the session's environment for every window, one variable at a time (see
        runner.pl), so thousands there cost time that grows with their square per window; the runner hands
        them to its process in one execve. The rest (the experiment's env) stays on the session: tmux sets
        some names itself (TERM, ...) after the session's, and the file must not change which value wins."""
        session, file = {}, {}  # type: dict, dict
        for name, value in shared.items():
            (file if name.startswith("SYMPH_") and name not in SESSION_MARKERS else session)[name] = value
        return session, file

    def shared_env_file(self):
        return os.path.join(self.log_dir(), SHARED_ENV_FILE)

    @staticmethod
    def shared_env_text(variables):
        """The shared file's content: ``NAME=value`` entries, each ended by a NUL (what runner.pl reads)."""
        return "".join(f"{name}={value}\0" for name, value in variables.items())

    def launch_script(self):
        return os.path.join(os.path.dirname(self.processes[0].log_path), LAUNCH_SCRIPT)

    def events(self):
        """The file every window's runner appends its process's starts and ends to (see :mod:`.runner`)."""
        return os.path.join(os.path.dirname(self.processes[0].log_path), EVENTS_FILE)

    def runner_argv(self, process, quiet_locale=False, shared_file=False):
        """The window's program: the Perl runner (:mod:`symphony.tmux.runner`), which runs ``process.argv``
        exactly as planned. ``quiet_locale``: the session carries :data:`QUIET_LOCALE` for the runners only.
        ``shared_file``: the process also gets the variables of :data:`SHARED_ENV_FILE` from its runner.
        A held process's runner first waits for its services (``python -m symphony.readiness.wait``)."""
        wait = (self.python, package_root(), wait_spec_path(self.log_dir(), process.key)) if process.waits else None
        return runner_argv(self.perl, self.events(), process, self.run_id, self.restart_backoff, self.grace,
                           drop_env=QUIET_LOCALE[0] if quiet_locale else None, wait=wait,
                           shared_env=self.shared_env_file() if shared_file else None,
                           execve=execve_spec(self.perl) if shared_file else None)

    def readiness_plan(self):
        """What ``symphony p`` needs of the checks and waits (:data:`READINESS_PLAN`), None without any:
        ``{"checks": {key: [check dicts]}, "waits": {key: [services]}}``."""
        if not self.local.has_readiness:
            return None
        return {"checks": {process.key: process.checks for process in self.processes if process.checks},
                "waits": {process.key: [wait["service"] for wait in process.waits]
                          for process in self.processes if process.waits}}

    def wait_specs(self):
        """``{path: spec}`` of every held process's wait (what its runner's wait reads), written at launch."""
        return {wait_spec_path(self.log_dir(), process.key): {"waits": process.waits,
                                                              "outcome": wait_outcome_path(self.log_dir(), process.key)}
                for process in self.processes if process.waits}

    def log_dir(self):
        return os.path.dirname(self.processes[0].log_path)

    def _log_pipe(self, process):
        return format_literal(log_pipe_command(process.log_path))

    def window_commands(self, index, process, shared_env, quiet_locale=False, shared_file=False):
        """Create window ``index`` for ``process``; its own variables (those not in ``shared_env``) via ``-e``;
        ``shared_file``: its runner adds those of :data:`SHARED_ENV_FILE`.

        The window keeps its last output once its runner has ended (``remain-on-exit``), and
        ``pipe-pane`` appends everything it shows to the process's log file.
        """
        target = quote(f"={self.experiment}:{index}")
        env = process.env
        words = ["new-window", "-d", "-t", target, "-n", quote(window_name(process.key)),
                 "-c", quote(format_literal(process.cwd))]
        for name in sorted(env.keys() - shared_env.keys()):  # (tmux sorts a window's variables anyway)
            words += ["-e", quote(f"{name}={env[name]}")]
        words.append("--")
        words += [quote(arg) for arg in self.runner_argv(process, quiet_locale and QUIET_LOCALE[0] not in env,
                                                         shared_file)]
        return [
            " ".join(words),
            f"set-option -w -t {target} remain-on-exit on",
            f"pipe-pane -t {target} {quote(self._log_pipe(process))}",
        ]

    def launch_commands(self, session_env, shared=None):
        """Every command that builds the session, in order.

        ``session_env`` (the launching shell's, so processes see the same PATH,
        virtualenv, ... as on the local backend) and the variables all processes share
        become the session's environment, but the shared SYMPH_* ones, which each runner adds
        from :data:`SHARED_ENV_FILE` (written by the launch: see :meth:`split_shared`); each
        window adds its own with ``-e``. No variable is ever typed into a shell. ``shared``:
        :meth:`shared_env`, when the caller has it already.
        """
        shared = self.shared_env() if shared is None else shared
        on_session, in_file = self.split_shared(shared)
        env = {**session_env, **on_session, RUN_ID_VAR: self.run_id}
        quiet_locale = QUIET_LOCALE[0] not in env  # (else the launching shell or every process chose its value)
        if quiet_locale:
            env[QUIET_LOCALE[0]] = QUIET_LOCALE[1]
        session_options = " ".join(f"-e {quote(f'{name}={value}')}" for name, value in env.items())
        commands = [f"new-session -d -s {quote(self.experiment)} -n {LAUNCH_WINDOW} {session_options} "
                    f"-- {' '.join(quote(arg) for arg in window_argv(['true']))}"]
        for index, process in enumerate(self.processes, start=1):
            commands += self.window_commands(index, process, shared, quiet_locale, bool(in_file))
        commands.append(f"kill-window -t {quote(f'={self.experiment}:{LAUNCH_WINDOW}')}")
        commands.append(self._run_shell("symphony.tmux.log_index", self.server_name, self.experiment, self.run_id))
        return commands

    @staticmethod
    def script(commands):
        """One line, so tmux runs it as one sequence that stops at the first error."""
        return " ; ".join(commands) + "\n"

    def render(self):
        """The local plan (commands, env per process) and the tmux commands that start it."""
        lines = [self.local.render(),
                 f"# tmux server {self.server_name!r}, session {self.experiment!r}; attach with: {self.attach_command()}",
                 f"# one `tmux -L {self.server_name} source-file` runs these commands as one sequence",
                 "# (new-session also gets -e NAME=value for every variable of the launching environment):"]
        shared = self.shared_env()
        in_file = self.split_shared(shared)[1]
        lines += self.launch_commands({}, shared)
        if in_file:
            lines.append(f"# (and {self.shared_env_file()} is written first with the {len(in_file)} SYMPH_* variables "
                         f"every process shares, which each window's runner adds to its process's environment)")
        return "\n".join(lines)
