"""Fuzzy matching of experiment and process names, as the original Symphony did it.

Typing ``symphony logs ag`` instead of ``symphony logs agent-0`` is the common case
at a terminal, so a name is looked up in tiers and the first tier that matches
anything wins: exact, then ``<username>-<name>`` exact, then prefix, suffix and
substring (processes and exposed services are matched the same way, without the
username tier). One candidate is used (with a note on stderr, so nobody is surprised);
several give a numbered chooser on a terminal and, in scripts, an error listing
them — a script must never act on a guess.
"""

import sys

from ..errors import ExperimentNotFoundError, ProcessNotFoundError, SymphonyError
from ..spec.names import best_candidates, candidate_tiers  # (the Cluster API matches with them too)


class AmbiguousNameError(SymphonyError):
    """A name matches several experiments or processes and nobody can choose (no terminal)."""


def is_interactive():
    """A person is there to answer: both stdin and stderr are terminals."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def choose(query, kind, candidates, exact, listing_hint, not_found_error):
    """Pick one of ``candidates`` for ``query`` (see the module docstring for the rules)."""
    if not candidates:
        raise not_found_error(f"no {kind} matches {query!r}: {listing_hint}")
    if len(candidates) == 1:
        if not exact:
            print(f"using {kind} {candidates[0]!r} for {query!r}", file=sys.stderr)
        return candidates[0]
    if not is_interactive():
        raise AmbiguousNameError(f"{query!r} matches several {_plural(kind)}: {', '.join(candidates)}; give the full name")
    return _numbered_choice(query, kind, candidates)


def _numbered_choice(query, kind, candidates):
    lines = [f"{query!r} matches several {_plural(kind)}:"]
    lines += [f"  {number}) {name}" for number, name in enumerate(candidates, 1)]
    sys.stderr.write("\n".join(lines) + "\n")
    while True:
        sys.stderr.write(f"choose 1-{len(candidates)} (Enter for 1, q to quit): ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not answer or answer.strip().lower() in ("q", "quit"):
            raise SymphonyError(f"no {kind} chosen for {query!r}: give the full name")
        answer = answer.strip() or "1"
        if answer.isdigit() and 1 <= int(answer) <= len(candidates):
            return candidates[int(answer) - 1]
        sys.stderr.write(f"{answer!r} is not a number from 1 to {len(candidates)}\n")


def _plural(kind):
    return kind + ("es" if kind.endswith("s") else "s")


def match_experiment(query, names, username=None, backend="the", prog="symphony"):
    """The experiment named (fuzzily) by ``query`` among ``names``; hints name the command ``prog``."""
    exact, candidates = best_candidates(query, names, username)
    return choose(query, "experiment", candidates, exact,
                  f"`{prog} ls` lists the experiments on the {backend} backend", ExperimentNotFoundError)


def match_process(query, experiment, keys):
    """The process key named by ``query`` among an experiment's process ``keys``.

    ``group/process`` is exact. A bare name is tried as a key, then as the name of a
    process inside any group, then fuzzily against the keys.
    """
    keys = list(keys)
    hint = f"experiment {experiment!r} has processes {', '.join(keys) or 'none'}"
    if "/" in query:
        if query in keys:
            return query
        raise ProcessNotFoundError(f"no process {query!r} (group/process names are exact): {hint}")
    if query in keys:
        return query
    same_name = [key for key in keys if key.rsplit("/", 1)[-1] == query]
    if same_name:
        return choose(query, "process", same_name, len(same_name) == 1, hint, ProcessNotFoundError)
    exact, candidates = best_candidates(query, keys)
    return choose(query, "process", candidates, exact, hint, ProcessNotFoundError)


def match_service(query, experiment, exposed):
    """The service named (fuzzily) by ``query`` among the services ``experiment`` exposes.

    ``exposed`` None (the backend cannot list them), or no exposed service matching at all,
    gives ``query`` back unchanged: the backend's own error then says what it is (a service
    that is only bound has no URL; an unknown one is listed with those it exposes).
    """
    if exposed is None:
        return query
    exposed = list(exposed)
    exact, candidates = best_candidates(query, exposed)
    if not candidates:
        return query
    return choose(query, "service", candidates, exact,
                  f"experiment {experiment!r} exposes {', '.join(exposed) or 'none'}", SymphonyError)
