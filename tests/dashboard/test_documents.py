"""The dashboard's data, without a browser: the same document as ``symphony p -o json``, the deltas
pages receive, the host metrics cache, and the import cost for the other verbs."""

import subprocess
import sys
import time

import pytest

from symphony.dashboard import documents, server
from symphony.status import ProcessStatus


def document(*processes):
    return {"experiment": "e", "backend": "local",
            "processes": [{**p.to_dict(), "state_text": p.state_text()} for p in processes]}


def test_delta_sends_changed_processes_only_and_ignores_the_moving_age():
    a = ProcessStatus("a", "", "a", "running", ready=True, started=100.0, pid=10)
    b = ProcessStatus("g/b", "g", "b", "running", ready=True, started=100.0, pid=11)
    before = document(a, b)
    aged = document(a, b)
    aged["processes"][0]["state_text"] = "running: 5m"
    assert server.process_delta(before, aged) == ([], [])
    b_restarting = ProcessStatus("g/b", "g", "b", "restarting", restarts=1, exit_code=3, started=100.0, finished=130.0)
    changed, removed = server.process_delta(before, document(a, b_restarting))
    assert [p["key"] for p in changed] == ["g/b"] and changed[0]["state"] == "restarting" and removed == []
    changed, removed = server.process_delta(before, document(b))
    assert changed == [] and removed == ["a"]


def test_summary_counts_running_restarting_and_failed():
    summary = documents.experiment_summary(document(
        ProcessStatus("a", "", "a", "running", started=50.0),
        ProcessStatus("b", "", "b", "restarting", restarts=2, started=40.0),
        ProcessStatus("c", "", "c", "exited", exit_code=1, started=60.0),
        ProcessStatus("d", "", "d", "exited", exit_code=0, started=60.0),
        ProcessStatus("e", "", "e", "killed", signal="SIGKILL")))
    assert summary == {"backend": "local", "name": "e", "processes": 5, "running": 1, "restarting": 1,
                       "failed": 2, "restarts": 2, "started": 40.0}


def test_host_metrics_measure_cpu_and_memory_and_forget_ended_processes():
    import psutil
    metrics = documents.HostMetrics()
    busy = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)  # past the interpreters' start-up
        watched = psutil.Process(busy.pid)
        before, started = sum(watched.cpu_times()[:2]), time.monotonic()
        first = metrics.sample([busy.pid, idle.pid, None])
        assert set(first) == {busy.pid, idle.pid}
        time.sleep(1.5)
        second = metrics.sample([busy.pid, idle.pid])
        expected = 100 * (sum(watched.cpu_times()[:2]) - before) / (time.monotonic() - started)
        # one thread: at most one core; on a loaded machine it may get much less than one
        assert 1 < second[busy.pid][0] <= 101 and expected > 1, (second, expected)
        assert second[idle.pid][0] < 1 < second[busy.pid][0]
        assert abs(second[idle.pid][1] - psutil.Process(idle.pid).memory_info().rss) < 1 << 20
        assert set(metrics.sample([busy.pid])) == {busy.pid} and set(metrics._last) == {busy.pid}
    finally:
        for child in (busy, idle):
            child.kill()
            child.wait()
    assert metrics.sample([busy.pid]) == {} and metrics._last == {}


def test_registering_the_verb_does_not_load_the_web_stack():
    """`symphony ls` imports symphony.dashboard to list the verb: it must stay argparse only."""
    code = ("import sys, argparse, symphony.dashboard as d; d.add_arguments(argparse.ArgumentParser()); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'psutil', 'multidict', 'yarl')"
            " or m.startswith('symphony.dashboard.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("value", ["local", "local,tmux", " tmux , local ,tmux"])
def test_backends_option_names_the_backends_in_order(value):
    import argparse
    args = argparse.Namespace(backends=value, backend=None)
    assert server.configured_backends(args) == list(dict.fromkeys(n.strip() for n in value.split(",")))


def test_default_backends_are_the_selected_one_and_the_configured_ones(tmp_path, monkeypatch):
    import argparse
    from symphony.config import SymphonyConfig
    (tmp_path / ".symphony.yml").write_text("backend: tmux\nbackends:\n  docker: {stop_timeout: 1}\n  local: {}\n")
    monkeypatch.chdir(tmp_path)
    SymphonyConfig()._reset()
    assert server.configured_backends(argparse.Namespace(backends=None, backend=None)) == ["tmux", "docker", "local"]
    assert server.configured_backends(argparse.Namespace(backends=None, backend="kube"))[0] == "kube"


def test_the_verb_as_the_symphony_command_registers_it(tmp_path):
    """`symphony -b tmux dashboard ...`: the command's own -b reaches the dashboard, which serves."""
    import signal
    import urllib.request
    script = tmp_path / "command.py"
    script.write_text("import sys\nfrom symphony.cli.main import main\nsys.exit(main(sys.argv[1:]))\n")
    child = subprocess.Popen([sys.executable, str(script), "-b", "tmux", "dashboard", "--port", "0", "--no-browser"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = child.stdout.readline()
        assert line.startswith("symphony dashboard of tmux at http://127.0.0.1:"), (line, child.stderr.read())
        url = line.split(" at ")[1].strip()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(url, timeout=20) as answer:  # the token in the URL, then in the cookie of the redirect
            assert answer.status == 200 and b"/static/app.js" in answer.read()
    finally:
        child.send_signal(signal.SIGTERM)
        assert child.wait(15) == 0
        child.stdout.close()
        child.stderr.close()


def test_the_token_is_kept_private_and_reused(symphony_home):
    token = server.stored_token()
    path = symphony_home / server.TOKEN_FILE
    assert len(token) >= 32 and path.read_text().strip() == token
    assert path.stat().st_mode & 0o777 == 0o600
    assert server.stored_token() == token  # a restarted dashboard accepts the pages still open
    path.unlink()
    assert server.stored_token() != token
