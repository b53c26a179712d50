"""From a process's declaration to the argv an engine runs — shared by all backends.

Two forms are accepted and both must survive every engine unchanged:

* ``cmds``: shell lines, run in order in one shell (``source venv/bin/activate``
  then ``python train.py``), exactly as if typed.
* exec form, ``command`` + ``args``: the arguments reach the program verbatim. When
  preamble lines must run first, the arguments are passed to the shell as
  positional parameters and started with ``exec "$@"``, so no argument is ever
  re-split or expanded by a shell.
"""

from ..errors import SpecError


def preamble_lines(process, cluster_preamble=()):
    """Preamble in order: cluster, experiment, group, process."""
    exp_preamble = process.experiment.preamble_cmds if process.experiment else []
    return list(cluster_preamble) + list(exp_preamble) + process.effective_preamble()


def process_argv(process, preamble, shell="/bin/bash"):
    """The argv that runs ``process`` after its ``preamble`` lines.

    Raises a SpecError when the process declares nothing to run.
    """
    if process.cmds:
        return [shell, "-c", "\n".join(list(preamble) + process.cmds)]
    argv = ([process.command] if process.command else []) + process.args
    if not argv:
        raise SpecError(f"process {process.key!r} has nothing to run: give cmds=['...'] or command='...', args=[...]")
    if preamble:
        return [shell, "-c", "\n".join(list(preamble) + ['exec "$@"']), process.name, *argv]
    return argv


def user_env(process):
    """Environment the user declared: experiment < group < process."""
    env = dict(process.experiment.env) if process.experiment else {}
    env.update(process.effective_env())
    return env
