"""Which engines a test run must have: ``SYMPHONY_REQUIRE_ENGINES=tmux,docker`` (CI sets it).

Without the variable, a test whose engine is absent skips with the reason. With it, the
absence of a listed engine is a failure, so a run cannot go green by skipping the very
engine it was meant to exercise:

* :func:`require_engine` fails or skips, for tests that check for their engine themselves;
* the ``pytest_runtest_makereport`` hook below turns any other skip into a failure when the
  skip's reason names a required engine (as a word: ``tmux``, ``Docker``) or the test
  carries that engine's marker (``@pytest.mark.docker``), so the engine fixtures in
  tests/docker, tests/tmux and elsewhere need no change. tests/conftest.py imports the hook;
  ``pytest -p engines`` loads it on its own (tests/test_required_engines.py does).

Kubernetes is never required by CI (no cluster runs there), but the mechanism takes any name:
``slurm`` (the real slurmctld and slurmd's of .ci/slurm-up) is required like ``tmux`` and
``docker`` where CI starts that cluster; tests/slurm's fixture calls :func:`require_engine`.
"""

import os
import re

import pytest

VARIABLE = "SYMPHONY_REQUIRE_ENGINES"


def required_engines():
    """The engine names listed in ``$SYMPHONY_REQUIRE_ENGINES`` (comma or space separated, lowercase)."""
    return {name.strip().lower() for name in re.split(r"[,\s]+", os.environ.get(VARIABLE, "")) if name.strip()}


def require_engine(name, reason):
    """Stop the test because engine ``name`` is absent (``reason`` says why): a failure when
    ``name`` is required, a skip otherwise."""
    if name.lower() in required_engines():
        pytest.fail(_required_message(name, reason), pytrace=False)
    pytest.skip(reason)


def _required_message(name, reason):
    return f"{name} is required here ({VARIABLE}={os.environ.get(VARIABLE, '')}) but is not usable: {reason}"


def engine_named(reason, markers=()):
    """The required engine a skip with ``reason`` (and the test's ``markers``) is about, or None."""
    for name in sorted(required_engines()):
        if name in markers or re.search(rf"(?<!\w){re.escape(name)}(?!\w)", reason, re.IGNORECASE):
            return name
    return None


def _skip_reason(report):
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: reason")
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and required_engines():
        reason = _skip_reason(report)
        engine = engine_named(reason, {mark.name.lower() for mark in item.iter_markers()})
        if engine is not None:
            report.outcome = "failed"
            report.longrepr = _required_message(engine, f"the test was skipped: {reason}")
    return report
