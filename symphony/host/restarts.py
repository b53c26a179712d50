"""The one restart decision of the host backends, and its backoff.

Two places decide whether a process that ended runs again, each the parent that reaps
it: the local supervisor, and the runner of a tmux window (:mod:`symphony.tmux.runner`).
Both ask :func:`should_restart`, count quick failures with :func:`failures_in_a_row` and
wait :func:`restart_delay`, so a restart never waits for anyone else to notice the end.

The rule: ``Always`` restarts whatever the end; ``OnFailure`` restarts after a
failure, that is a non-zero exit code, a killing signal, or an end nobody could
observe (neither code nor signal); ``Never`` never restarts.

The backoff: ``restart_backoff`` seconds before the first restart, doubled for each
quick failure in a row, at most :data:`MAX_BACKOFF_SECONDS`; a run that lasted
:data:`STABLE_RUN_SECONDS` resets the count (:func:`failures_in_a_row`).
"""

from __future__ import annotations  # (annotations stay text: nothing imports ``typing`` for the supervisor)

#: a process that ran at least this long resets its restart backoff
STABLE_RUN_SECONDS = 10.0
#: the longest wait before a restart
MAX_BACKOFF_SECONDS = 30.0

ALWAYS = "Always"
ON_FAILURE = "OnFailure"


def failed(exit_code: int | None, signal: str | None) -> bool:
    """Whether a run that ended with ``exit_code`` (None: not known) or ``signal`` (its name) failed."""
    return signal is not None or exit_code != 0


def should_restart(policy: str | None, exit_code: int | None, signal: str | None) -> bool:
    """Whether a process under restart ``policy`` (None: not known, so Never) runs again after ending this way."""
    return policy == ALWAYS or (policy == ON_FAILURE and failed(exit_code, signal))


def failures_in_a_row(ran_for: float, before: int) -> int:
    """Quick failures in a row once a run of ``ran_for`` seconds ended, ``before`` being the count until then."""
    return 0 if ran_for >= STABLE_RUN_SECONDS else before + 1


def restart_delay(backoff: float, failures: int) -> float:
    """Seconds before the next restart: ``backoff`` doubled per quick failure in a row, at most 30 s."""
    return min(MAX_BACKOFF_SECONDS, backoff * 2 ** max(0, failures - 1))


def restart_delays(backoff: float) -> list[float]:
    """Every delay ``restart_delay`` can give for ``backoff``, by failures in a row, up to the cap.

    Runners that must not import Python (the tmux window's Perl, a container's shell, a Slurm
    step) get this list and index it, so the rule itself stays here.
    """
    delays = [restart_delay(backoff, 0)]
    while delays[-1] < MAX_BACKOFF_SECONDS and len(delays) < 64 and backoff > 0:
        delays.append(restart_delay(backoff, len(delays)))
    return delays
