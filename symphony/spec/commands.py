"""From a process's declaration to what its engine executes — decided once for every backend.

Two forms are accepted and both must survive every engine unchanged:

* ``cmds``: shell lines, run in order in one shell (``source venv/bin/activate``
  then ``python train.py``), exactly as if typed.
* exec form, ``command`` + ``args``: the arguments reach the program verbatim. When
  preamble lines must run first, the arguments are passed to the shell as
  positional parameters and started with ``exec "$@"``, so no argument is ever
  re-split or expanded by a shell.

``args`` without ``command`` keeps the image's own entrypoint (as Kubernetes and
Docker do); with no image around it — or an image without an entrypoint — the first
argument is the program. Nothing at all runs the image's default command.

A preamble line that fails stops the process before its program runs, with that line
and its exit status in the process's output, whatever the shell (bash on this machine,
``/bin/sh`` in containers): a ``source venv/bin/activate`` that cannot find its file
must not leave a program running in the wrong environment. Each line's status is
checked right after it (not ``set -e``, which would also stop on any failing command
inside a sourced script), so lines that open and close a construct across entries
(``if ...; then`` / ``fi``) still work.
"""

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

from ..errors import SpecError

if TYPE_CHECKING:
    from .model import ProcessSpec


@dataclass(frozen=True)
class Launch:
    """What a process's engine executes: ``entrypoint`` then ``args``.

    ``entrypoint`` None keeps the image's own entrypoint (container backends); ``argv``
    is what the kernel finally runs when there is none.
    """

    entrypoint: Optional[List[str]]
    args: List[str] = field(default_factory=list)
    #: a shell runs first (shell lines, or a preamble before the program): the program is not argv[0]
    through_shell: bool = False

    @property
    def argv(self) -> List[str]:
        return list(self.entrypoint or []) + list(self.args)

    @property
    def keeps_image_entrypoint(self) -> bool:
        return self.entrypoint is None

    @property
    def runs_image_default(self) -> bool:
        """Nothing declared to run: the image's own ENTRYPOINT and CMD run."""
        return self.entrypoint is None and not self.args


def preamble_lines(process: "ProcessSpec", cluster_preamble: Sequence[str] = ()) -> List[str]:
    """Preamble in order: cluster, experiment, group, process."""
    exp_preamble = process.experiment.preamble_cmds if process.experiment else []
    return list(cluster_preamble) + list(exp_preamble) + process.effective_preamble()


#: the guard, defined once before the preamble (a shell function: the program never sees it)
_CHECK_NAME = "__symphony_preamble_check"
_CHECK_DEFINITION = (f'{_CHECK_NAME}() {{ [ "$1" -eq 0 ] || {{ printf "symphony: preamble line failed (exit %s): %s\\n" '
                     f'"$1" "$2" >&2; exit "$1"; }}; }}')


def guarded_preamble(preamble: Sequence[str]) -> List[str]:
    """``preamble`` with each line's exit status checked right after it: a failure ends the shell with
    that status, after printing ``symphony: preamble line failed (exit N): <line>`` to stderr."""
    if not preamble:
        return []
    guarded = [_CHECK_DEFINITION]
    for line in preamble:
        guarded.append(line)
        if not line.rstrip().endswith("\\"):  # continued on the next line: checked after that one
            guarded.append(f"{_CHECK_NAME} $? {shlex.quote(line)}")
    return guarded


def launch_of(process: "ProcessSpec", preamble: Sequence[str], shell: str, in_image: bool = True) -> Launch:
    """The one decision of what ``process`` executes after its ``preamble`` lines under ``shell``.

    ``in_image``: processes run in images, so ``args`` without ``command`` keep the image's
    entrypoint; then a preamble is refused (a :class:`PreambleBeforeEntrypointError`): the
    entrypoint is not known before the container runs, so nothing can run first. On this
    machine the first argument is the program, and a preamble runs before it as before any
    other.
    """
    if process.cmds:
        return Launch([shell, "-c", "\n".join(guarded_preamble(preamble) + process.cmds)], through_shell=True)
    if process.command is None and in_image:
        if process.args and preamble:
            raise PreambleBeforeEntrypointError(
                f"process {process.key!r} gives args without command, which keeps the image's entrypoint, "
                f"so preamble_cmds cannot run first: give command= as well")
        return Launch(None, list(process.args))
    argv = ([process.command] if process.command is not None else []) + list(process.args)
    if not argv:
        return Launch(None, [])  # nothing declared: an image's own default command (refused where none runs)
    if preamble:
        script = "\n".join(guarded_preamble(preamble) + ['exec "$@"'])
        return Launch([shell, "-c", script, process.name, *argv], through_shell=True)
    return Launch(argv[:1], argv[1:])


class PreambleBeforeEntrypointError(SpecError):
    """A preamble cannot run before an image's own entrypoint."""


def process_argv(process: "ProcessSpec", preamble: Sequence[str], shell: str = "/bin/bash") -> List[str]:
    """The argv the kernel runs for ``process`` when no image entrypoint is involved."""
    launch = launch_of(process, preamble, shell)
    if not launch.argv:
        raise SpecError(f"process {process.key!r} has nothing to run: give cmds=['...'] or command='...', args=[...]")
    return launch.argv


def user_env(process: "ProcessSpec") -> Dict[str, str]:
    """Environment the user declared: experiment < group < process."""
    env = dict(process.experiment.env) if process.experiment else {}
    env.update(process.effective_env())
    return env
