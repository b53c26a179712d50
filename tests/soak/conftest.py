"""The soak test's summary, printed at the end of the run.

Through ``pytest_terminal_summary``, so it shows in the CI log whatever the outcome and
without ``-s`` (a test's own prints are captured). The test adds ``(title, text)`` pairs to
``config.stash[soakwork.SUMMARIES]``.
"""

import soakwork


def pytest_terminal_summary(terminalreporter, config):
    for title, text in config.stash.get(soakwork.SUMMARIES, []):
        terminalreporter.write_sep("=", title)
        terminalreporter.write_line(text)
