"""The dashboard with a 1,000-process local experiment, in headless Chromium, against its goals.

    .venv/bin/python bench/dashboard.py

Runs tests/dashboard/test_thousand.py (the same browser, dashboard and experiment the tests
use: Debian's chromium and chromedriver) and prints what it measured in that one run: the
page's JSON next to ``symphony p -o json`` of the same experiment (ratio), the experiment
page's first render in the browser, and how soon a killed process shows on the page after
the backend records its end.
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOALS = {"json ratio": 2.0, "first render ms": 1000.0, "change s": 1.0}


def main():
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "figures.json")
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                              "tests/dashboard/test_thousand.py"], cwd=ROOT,
                             env={**os.environ, "SYMPHONY_DASHBOARD_FIGURES": path})
        if run.returncode != 0 or not os.path.exists(path):
            print("the run failed: no figures", file=sys.stderr)
            return 1
        with open(path) as handle:
            figures = json.load(handle)
    measured = {"json ratio": figures["api_s"] / figures["cli_s"], "first render ms": figures["first_render_ms"],
                "change s": figures["change_s"]}
    print(f"\n{figures['processes']} processes; load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores")
    print(f"page JSON {figures['api_s'] * 1000:.0f} ms vs `symphony p -o json` {figures['cli_s'] * 1000:.0f} ms")
    for name, goal in GOALS.items():
        value = measured[name]
        print(f"{name:16} {value:10.2f}   goal <= {goal:g}   {'met' if value <= goal else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
