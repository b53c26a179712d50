"""Every verb and alias of `symphony`, through main([...]), against real local experiments."""

import json
import stat

import pytest
import yaml

from symphony import Cluster
from symphony.cluster import BACKENDS

from clihelpers import cli_env, parse_table, symphony_process, wait_for

pytestmark = pytest.mark.slow


def declare_demo(cluster, name="demo", workdir=None):
    """server (binds svc, exposes web), client, and group workers with a finished agent-1."""
    exp = cluster.new_experiment(name)
    server = exp.new_process("server", cmds=["echo server up", "echo port=$SYMPH_SVC_PORT", "sleep 60"], cwd=workdir)
    server.binds("svc")
    server.exposes("web")
    exp.new_process("client", command="sleep", args=["60"], cwd=workdir).connects("svc")
    workers = exp.new_process_group("workers")
    workers.new_process("agent-0", cmds=["echo a0", "sleep 60"], cwd=workdir)
    workers.new_process("agent-1", cmds=["echo line-1", "echo line-2", "echo line-3", "exit 3"], cwd=workdir)
    return exp


@pytest.fixture
def demo(local_cluster, tmp_path):
    """A running demo experiment (current), whose processes work in their own directory."""
    workdir = tmp_path / "procdir"
    workdir.mkdir()
    local_cluster.launch(declare_demo(local_cluster, workdir=str(workdir)))
    wait_for(lambda: {s.key: s.state for s in local_cluster.describe_experiment("demo")}["workers/agent-1"] == "exited")
    wait_for(lambda: "port=" in "".join(local_cluster.get_log("demo", "server")))
    return workdir


def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("symphony: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("verb", ["list-experiments", "ls", "lse"])
def test_list_experiments_and_aliases(run, local_cluster, verb):
    for name in ("alpha", "beta"):
        exp = local_cluster.new_experiment(name)
        exp.new_process("p", "sleep 60")
        local_cluster.launch(exp)
    code, out, _ = run(verb)
    assert code == 0 and out.split() == ["alpha", "beta"]
    code, out, _ = run(verb, "-o", "json")
    assert json.loads(out) == [{"name": "alpha", "current": False}, {"name": "beta", "current": True}]
    code, out, _ = run(verb, "-o", "yaml")
    assert yaml.safe_load(out)[1] == {"name": "beta", "current": True}


@pytest.mark.parametrize("verb", ["list-processes", "p", "lsp", "process"])
def test_list_processes_and_aliases(run, demo, verb):
    code, out, _ = run(verb)
    assert code == 0
    assert out.splitlines()[0].split() == ["Group", "Name", "Ready", "Restarts", "State"]
    rows = {row["Name"]: row for row in parse_table(out)}
    assert list(rows) == ["server", "client", "agent-0", "agent-1"]
    assert rows["server"]["Group"] == "" and rows["agent-1"]["Group"] == "workers"
    # it binds svc and exposes web but never listens: its checks say not ready
    assert (rows["server"]["Ready"], rows["server"]["Restarts"]) == ("0", "0")
    assert rows["server"]["State"].startswith("running: ")
    assert rows["agent-1"]["Ready"] == "0" and rows["agent-1"]["State"].startswith("exited (3): ")
    code, out, _ = run(verb, "demo", "-o", "json")
    data = json.loads(out)
    assert data["experiment"] == "demo" and data["backend"] == "local"
    by_key = {p["key"]: p for p in data["processes"]}
    assert by_key["workers/agent-1"]["exit_code"] == 3 and by_key["workers/agent-1"]["group"] == "workers"
    assert by_key["server"]["ready"] is False and by_key["server"]["state_text"].startswith("running")
    assert by_key["server"]["checked"] is True and by_key["server"]["not_ready"] == ["svc", "web"]
    assert by_key["client"]["ready"] is True and "checked" not in by_key["client"]
    code, out, _ = run(verb, "-o", "yaml")
    assert [p["name"] for p in yaml.safe_load(out)["processes"]] == ["server", "client", "agent-0", "agent-1"]


@pytest.mark.parametrize("verb", ["logs", "log", "l"])
def test_logs_and_aliases(run, demo, verb):
    code, out, _ = run(verb, "server")
    assert code == 0 and out.splitlines()[0] == "server up" and out.splitlines()[1].startswith("port=")
    code, out, _ = run(verb, "workers/agent-1", "demo", "--tail", "2")
    assert out.splitlines() == ["line-2", "line-3"]
    code, out, _ = run(verb, "agent-1", "-t", "-1", "-s", "1h")
    assert out.splitlines() == ["line-1", "line-2", "line-3"]
    code, out, _ = run(verb, "agent-1", "--follow")  # returns: the process has exited
    assert code == 0 and out.splitlines()[-1] == "line-3"


def test_logs_fuzzy_process_names(run, demo):
    code, out, err = run("logs", "serv")
    assert code == 0 and "server up" in out and "using process 'server' for 'serv'" in err
    code, out, err = run("logs", "nt-1")  # suffix
    assert code == 0 and "line-3" in out
    code, _, err = run("logs", "agent")
    assert code == 1
    assert "'agent' matches several processes: workers/agent-0, workers/agent-1" in one_line_error(err)
    code, _, err = run("logs", "workers/agent")  # group/process is exact
    assert code == 1 and "group/process names are exact" in one_line_error(err)


def test_user_mistakes_are_one_line_and_exit_1(run, demo):
    cases = {
        ("logs", "server", "--since", "5x"): "invalid --since '5x'",
        ("logs", "server", "--tail", "-7"): "invalid --tail -7",
        ("logs", "nosuch"): "no process matches 'nosuch'",
        ("p", "nosuch"): "no experiment matches 'nosuch'",
        ("exec", "server"): "put the command after --",
        ("exec", "server", "demo", "ls", "-l"): "put the command after --",
        ("p", "--bogus"): "unrecognized arguments: --bogus",
        ("-b", "nosuch", "ls"): "unknown backend 'nosuch'",
        ("visit", "nosuch", "-u"): "has no service 'nosuch'",
        ("launch", "missing.yml"): "no experiment file 'missing.yml'",
        ("scp", "a.txt", "b.txt"): "one side of scp must be PROCESS:PATH",
    }
    for argv, message in cases.items():
        code, out, err = run(*argv)
        assert code == 1, argv
        assert message in one_line_error(err), (argv, err)


@pytest.mark.parametrize("argv, line", [
    (["lgos"], "symphony: error: unknown command 'lgos': did you mean 'logs'?"),
    (["-b", "local", "lunch", "x.yml"], "symphony: error: unknown command 'lunch': did you mean 'launch'?"),
    (["frobnicate"], "symphony: error: unknown command 'frobnicate'"),
])
def test_an_unknown_command_names_the_nearest_one_and_the_usage_and_exits_2(run, argv, line):
    code, out, err = run(*argv)
    assert (code, out) == (2, "")
    assert err.splitlines() == [line, "usage: symphony [-h] [-b BACKEND] <command> ... "
                                      "(`symphony --help` lists the commands)"]
    assert symphony_process(*argv).returncode == 2  # the real script's exit code too


def test_bare_command_prints_help(run):
    code, out, _ = run()
    assert code == 1 and "list-processes (p, lsp, process)" in out


@pytest.mark.parametrize("verb", ["exec", "x"])
def test_exec_runs_in_the_process_environment(run, demo, verb):
    code, out, _ = run(verb, "server", "--", "sh", "-c", 'echo "$SYMPH_SVC_PORT $SYMPH_PROCESS $(pwd)"; exit 7')
    port, process, cwd = out.split()
    assert code == 7
    assert process == "server" and cwd == str(demo)
    assert port == Cluster.new("local").process_environment("demo", "client")[0]["SYMPH_SVC_PORT"]


def test_exec_of_a_missing_or_unexecutable_command_exits_as_a_shell_would(run, demo, tmp_path):
    code, _, err = run("exec", "server", "--", "no-such-command-here")
    assert (code, err.strip()) == (127, "symphony: no-such-command-here: command not found")
    script = tmp_path / "not-executable.sh"
    script.write_text("echo hi\n")
    code, _, err = run("exec", "server", "--", str(script))
    assert code == 126 and "permission denied" in err


def test_ssh_opens_a_shell_in_the_process_environment(demo, tmp_path):
    result = symphony_process("ssh", "cli", input='echo "in $SYMPH_PROCESS at $(pwd)"\nexit 4\n',
                              env=cli_env(SHELL="/bin/sh"))
    assert result.returncode == 4, result.stderr
    assert f"in client at {demo}" in result.stdout


@pytest.mark.parametrize("verb", ["scp", "cp"])
def test_scp_copies_relative_to_the_process_directory(run, demo, tmp_path, verb):
    (demo / "result.txt").write_text("from the process\n")
    local = tmp_path / "here.txt"
    code, _, err = run(verb, "server:result.txt", str(local))
    assert code == 0, err
    assert local.read_text() == "from the process\n"
    local.write_text("to the process\n")
    code, _, _ = run(verb, str(local), "workers/agent-0:uploaded.txt", "demo")
    assert code == 0 and (demo / "uploaded.txt").read_text() == "to the process\n"
    code, _, err = run(verb, "server:result.txt", tmp_path / "no-such-dir" / "x.txt")
    assert code == 1
    assert one_line_error(err) == f"symphony: error: No such file or directory: {tmp_path}/no-such-dir/x.txt"


@pytest.mark.parametrize("verb", ["visit", "vi"])
def test_visit_prints_or_opens_the_url(run, demo, tmp_path, verb):
    port = Cluster.new("local").process_environment("demo", "server")[0]["SYMPH_WEB_PORT"]
    code, out, _ = run(verb, "web", "--url-only")
    assert code == 0 and out.strip() == f"http://127.0.0.1:{port}"
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    result = symphony_process(verb, "web", "demo", env=cli_env(BROWSER=str(browser), DISPLAY=""))
    assert result.returncode == 0, result.stderr
    assert wait_for(lambda: opened.exists() and opened.read_text().strip()) == f"http://127.0.0.1:{port}"


def test_visit_matches_a_service_name_as_processes_are_matched(run, local_cluster):
    exp = local_cluster.new_experiment("boards")
    exp.new_process("dash", "sleep 60").exposes("dashboard")
    exp.new_process("tensor", "sleep 60").exposes("tensorboard")
    exp.new_process("db", "sleep 60").binds("store")
    local_cluster.launch(exp)
    url = local_cluster.external_url("boards", "dashboard")
    code, out, err = run("visit", "dash", "-u")
    assert (code, out, err) == (0, url + "\n", "using service 'dashboard' for 'dash'\n")
    code, out, err = run("visit", "dashboard", "-u")
    assert (code, out, err) == (0, url + "\n", "")
    code, _, err = run("vi", "board", "-u")  # a suffix of both: a script must not act on a guess
    assert code == 1
    assert one_line_error(err) == ("symphony: error: 'board' matches several services: dashboard, tensorboard; "
                                   "give the full name")
    code, _, err = run("visit", "store", "-u")  # matches no exposed service: the backend says what it is
    assert code == 1 and "'store' of 'boards' is bound, not exposed" in one_line_error(err)
    code, _, err = run("visit", "nosuch", "-u")
    assert code == 1 and one_line_error(err) == ("symphony: error: experiment 'boards' has no service 'nosuch': "
                                                 "it exposes dashboard, tensorboard")


@pytest.mark.parametrize("verb", ["switch-experiment", "exp", "e", "se"])
def test_switch_experiment_and_aliases(run, local_cluster, verb):
    code, _, err = run(verb)
    assert code == 1 and "no current experiment" in one_line_error(err)
    for name in ("first-run", "second-run"):
        exp = local_cluster.new_experiment(name)
        exp.new_process("p", "sleep 60")
        local_cluster.launch(exp)
    assert run(verb)[1].strip() == "second-run"
    assert run(verb, "first")[0] == 0  # fuzzy: prefix
    assert run(verb)[1].strip() == "first-run"
    assert run("p")[1].splitlines()[1].split()[0] == "p"  # p acts on the current experiment
    code, _, err = run(verb, "not-launched")
    assert code == 1 and "no experiment matches 'not-launched'" in one_line_error(err)
    assert run(verb, "not-launched", "-f")[0] == 0
    assert run(verb)[1].strip() == "not-launched"
    code, _, err = run("p")
    assert code == 1 and "current experiment 'not-launched' does not exist" in one_line_error(err)


@pytest.mark.parametrize("verb", ["delete", "d"])
def test_delete_and_alias(run, local_cluster, verb):
    exp = local_cluster.new_experiment("to-delete")
    exp.new_process("p", "sleep 60")
    local_cluster.launch(exp)
    code, out, _ = run(verb, "--dry-run")
    assert code == 0 and "would delete experiment to-delete" in out
    code, _, err = run(verb)  # no terminal to ask on
    assert code == 1 and "pass -f/--force" in one_line_error(err)
    code, _, err = run(verb, "-f", "to-del")  # --force never guesses
    assert code == 1 and "no experiment named exactly 'to-del'" in one_line_error(err)
    assert local_cluster.list_experiments() == ["to-delete"]
    code, out, _ = run(verb, "-f", "to-delete")
    assert code == 0 and out.strip() == "deleted to-delete"
    assert local_cluster.list_experiments() == []


@pytest.mark.parametrize("verb", ["delete-batch", "db"])
def test_delete_batch_and_alias(run, local_cluster, verb):
    for name in ("sweep-lr-1", "sweep-lr-2", "sweep-bs-1", "keeper"):
        exp = local_cluster.new_experiment(name)
        exp.new_process("p", "sleep 60")
        local_cluster.launch(exp)
    code, out, _ = run(verb, "lr", "--dry-run")
    assert code == 0 and out.splitlines() == ["sweep-lr-1", "sweep-lr-2", "would delete 2 experiment(s) (local backend)"]
    code, out, err = run(verb, "sweep-*")
    assert code == 1 and "pass -f/--force" in err and out.splitlines() == ["sweep-lr-1", "sweep-lr-2", "sweep-bs-1"]
    code, out, _ = run(verb, "sweep-*-1", "lr-2", "-f")
    assert code == 0 and sorted(out.splitlines()) == sorted(
        ["sweep-lr-1", "sweep-lr-2", "sweep-bs-1", "deleted sweep-lr-1", "deleted sweep-lr-2", "deleted sweep-bs-1"])
    assert local_cluster.list_experiments() == ["keeper"]
    code, _, err = run(verb, "nothing-like-this", "-f")
    assert code == 1 and "no experiment on the local backend matches" in one_line_error(err)


def test_backend_choice_and_current_experiment_per_backend(run, monkeypatch, local_cluster):
    monkeypatch.setitem(BACKENDS, "other", "clihelpers:OtherLocalCluster")
    exp = local_cluster.new_experiment("on-local")
    exp.new_process("p", "sleep 60")
    local_cluster.launch(exp)
    assert run("exp")[1].strip() == "on-local"
    code, _, err = run("-b", "other", "exp")
    assert code == 1 and "no current experiment on the other backend" in err
    assert run("exp", "elsewhere", "-f", "--backend", "other")[0] == 0  # -b after the verb too
    monkeypatch.setenv("SYMPHONY_BACKEND", "other")
    assert run("exp")[1].strip() == "elsewhere"
    assert run("-b", "local", "exp")[1].strip() == "on-local"  # -b beats the environment
    assert run("ls")[1] == ""


def test_launch_yaml_then_inspect(run, tmp_path):
    spec = tmp_path / "exp.yml"
    spec.write_text("name: from-yaml\n"
                    "processes:\n"
                    "  server:\n"
                    "    cmds: ['echo serving on $SYMPH_API_PORT', 'sleep 60']\n"
                    "    binds: [api]\n"
                    "  client:\n"
                    "    command: sh\n"
                    "    args: ['-c', 'echo client of $SYMPH_API_ADDR']\n"
                    "    connects: [api]\n")
    code, out, _ = run("launch", spec, "--dry-run")
    assert code == 0 and "process server" in out and "SYMPH_API_PORT=" in out
    assert run("ls")[1] == ""
    code, _, err = run("launch", spec)
    assert (code, err) == (0, "launched 'from-yaml' on the local backend: 2 processes "
                              "(symphony p to watch)\n")
    assert run("exp")[1].strip() == "from-yaml"
    wait_for(lambda: "client of 127.0.0.1:" in run("logs", "client")[1])
    code, _, err = run("launch", spec)
    assert code == 1 and "already running" in one_line_error(err)
    assert run("launch", spec, "--force")[0] == 0
    assert run("d", "-f", "from-yaml")[0] == 0


def test_username_prefixed_names_are_exact_enough_for_force(run, local_cluster):
    from symphony.config import SymphonyConfig
    SymphonyConfig().set_username("sarah")
    for name in ("rl", "rl-2"):
        exp = local_cluster.new_experiment(name)
        exp.new_process("p", "sleep 60")
        local_cluster.launch(exp)
    assert local_cluster.list_experiments() == ["sarah-rl", "sarah-rl-2"]
    code, out, _ = run("d", "-f", "rl")
    assert code == 0 and out.strip() == "deleted sarah-rl"
    assert local_cluster.list_experiments() == ["sarah-rl-2"]
