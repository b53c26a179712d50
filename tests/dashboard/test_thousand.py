"""A 1,000-process local experiment watched in the browser for a while: first render, the API's
cost next to ``symphony p -o json``, how soon a change shows, and the server's memory and
children while pages come and go.

The test checks what must happen (every row shown, the change shown, no memory growth, no
log child left); how fast is a benchmark's business: the figures are printed (``-s``) and, when
``$SYMPHONY_DASHBOARD_FIGURES`` names a file, written there as JSON for ``bench/dashboard.py``,
which compares them with their goals.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from symphony import Cluster

pytestmark = pytest.mark.slow

PROCESSES = 1000


def wait(driver, condition, timeout=30):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d))


def timed(function, repeat=3):
    """Median wall time of ``function()``, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def get(dashboard, path):
    req = urllib.request.Request(dashboard.base + path, headers={"Authorization": f"token {dashboard.token}"})
    with urllib.request.urlopen(req, timeout=60) as answer:
        return answer.read()


def rss(pid):
    return psutil.Process(pid).memory_info().rss


def log_children(pid):
    return [child for child in psutil.Process(pid).children(recursive=True)
            if "symphony.cli" in " ".join(child.cmdline())]


@pytest.fixture
def big(shared_home):
    cluster = Cluster.new("local", grace=1.0)
    exp = cluster.new_experiment("thousand")
    for index in range(PROCESSES):
        exp.new_process(f"p-{index:04d}", cmds=["sleep 600"])
    started = time.perf_counter()
    cluster.launch(exp)
    print(f"\nlaunch of {PROCESSES} processes: {time.perf_counter() - started:.1f}s")
    yield cluster, exp.name
    cluster.delete(exp.name)


def test_a_thousand_processes(dashboard, big, page, workdir):
    cluster, name = big
    wait(page, lambda _: sum(s.state == "running" for s in cluster.describe_experiment(name)) == PROCESSES, 120)

    # the JSON the page reads, next to `symphony p -o json` (one process each, as a user would run it)
    api = timed(lambda: json.loads(get(dashboard, f"/api/experiments/local/{name}")))
    cli = timed(lambda: subprocess.run([sys.executable, "-m", "symphony.cli", "p", name, "-o", "json"],
                                       cwd=str(workdir), capture_output=True, check=True))
    print(f"JSON of {PROCESSES} processes: API {api * 1000:.0f} ms, `symphony p -o json` {cli * 1000:.0f} ms")

    # first render of the experiment page, reached as a person does: from the experiments page
    page.get(dashboard.url)
    wait(page, lambda d: d.execute_script("const a = document.querySelector(arguments[0]); if (a) a.click(); return !!a;",
                                          f"tr.experiment[data-experiment='{name}'] a"))
    wait(page, lambda d: d.execute_script("return document.querySelectorAll('tr.process').length") == PROCESSES)
    first = page.execute_script("return window.firstRender")
    print(f"experiment page first render: {first:.0f} ms after navigation")

    # a change reaches the page within a second
    server_rss = rss(dashboard.proc.pid)
    page.execute_script("""
        window.changeSeen = null;
        new MutationObserver(() => {
          const row = document.getElementById('p:p-0500');
          if (row && row.dataset.state === 'killed' && !window.changeSeen) window.changeSeen = Date.now() / 1000;
        }).observe(document.querySelector('#processes tbody'), {subtree: true, childList: true, attributes: true});
    """)
    victim = next(s for s in cluster.describe_experiment(name) if s.key == "p-0500").pid
    killed = time.time()
    os.kill(victim, signal.SIGKILL)
    seen = wait(page, lambda d: d.execute_script("return window.changeSeen"), 10)
    ended = next(s for s in cluster.describe_experiment(name) if s.key == "p-0500").finished
    print(f"a process killed shows on the page {seen - ended:.2f}s after the backend recorded its end "
          f"({seen - killed:.2f}s after the kill)")
    assert seen >= ended, "the page cannot show an end before the backend records it"
    figures = {"processes": PROCESSES, "api_s": api, "cli_s": cli, "first_render_ms": first,
               "change_s": seen - ended}
    if os.environ.get("SYMPHONY_DASHBOARD_FIGURES"):
        with open(os.environ["SYMPHONY_DASHBOARD_FIGURES"], "w") as handle:
            json.dump(figures, handle)

    # pages and log views opened and closed for a while: the server keeps no more memory, and
    # no `symphony logs` child outlives its view
    def open_and_leave(path, seconds):
        req = urllib.request.Request(dashboard.base + path, headers={"Authorization": f"token {dashboard.token}"})
        with urllib.request.urlopen(req, timeout=30) as answer:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                answer.read1(65536)

    paths = [f"/api/events/local/{name}", "/api/events", f"/api/logs/local/{name}?process=p-0001&tail=10"]
    rounds = []
    for round_ in range(3):
        threads = [threading.Thread(target=open_and_leave, args=(path, 1.5)) for path in paths * 3]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait(page, lambda _: not log_children(dashboard.proc.pid), 10)
        rounds.append(rss(dashboard.proc.pid))
    grown = (rounds[-1] - rounds[0]) / 2 ** 20
    print(f"server memory: {server_rss / 2 ** 20:.1f} MiB watching, then "
          f"{', '.join(f'{r / 2 ** 20:.1f}' for r in rounds)} MiB after each round of pages opened and closed")
    assert grown < 4, f"the server grew by {grown:.1f} MiB between rounds 1 and 3"
    assert page.find_element(By.ID, "live").text == "live"
