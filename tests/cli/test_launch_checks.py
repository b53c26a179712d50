"""What the CLI checks before it starts anything: the config's backend settings, a dry run that
fails exactly when the launch would, and hints worded for the command line."""

import json
import re
import textwrap

import jsonschema
import pytest
import yaml

from symphony import Cluster
from symphony.config import SymphonyConfig
from symphony.errors import ExperimentExistsError

from clihelpers import REPO, symphony_process

pytestmark = pytest.mark.slow


def write(path, text):
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def one_line_error(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symphony: error: ") and "Traceback" not in err, err
    return lines[0]


# --- the config's backends: section ----------------------------------------------------
@pytest.mark.parametrize("text, argv, message", [
    ("backends:\n  local:\n    grace: 1\n    bogus: 1\n", ["ls"],
     r"\.symphony\.yml:4: backends: local: unknown keyword 'bogus' for Cluster\.new\('local'\): "
     r"use one of preamble_cmds, grace, restart_backoff, shell, bind_host$"),
    ("backends: {tmux: {server_nam: x}}\n", ["ls", "-b", "tmux"],  # checked when the tmux backend is made
     r"\.symphony\.yml:1: backends: tmux: unknown keyword 'server_nam' .*: use one of .*server_name"),
    ("backends:\n  local: {grace: abc}\n", ["ls"],
     r"cannot create the local backend with grace='abc' \(backends: in .*\.symphony\.yml\): "
     r"grace must be a number of seconds >= 0 \(seconds between SIGTERM and SIGKILL on delete\), "
     r"e\.g\. grace=5, got 'abc'$"),
    ("backends:\n  local: {shell: no-such-shell}\n", ["ls"],
     r"cannot create the local backend with shell='no-such-shell' \(backends: in .*\.symphony\.yml\): "
     r"shell 'no-such-shell' is not an executable program on this machine: give a path such as '/bin/bash', "
     r"or leave it out for bash$"),
    ("backends:\n  local:\n    grace: 1\n    grace: 2\n", ["ls"],
     r"\.symphony\.yml:4: duplicate key 'grace' \(first at line 3\)"),
])
def test_a_bad_backend_setting_is_one_line_with_the_fix(isolated_config, text, argv, message):
    """Through the real command: these used to crash every verb with a TypeError traceback."""
    write(isolated_config / ".symphony.yml", text)
    result = symphony_process(*argv, cwd=isolated_config)
    assert result.returncode == 1
    assert re.search(message, one_line_error(result.stderr)), result.stderr


def test_backend_settings_from_python_are_checked_too():
    from symphony.config import ConfigError
    with pytest.raises(ConfigError, match=r"local: unknown keyword 'gracee'.*use one of .*grace"):
        SymphonyConfig().set_backend_kwargs("local", gracee=1)


# --- launch and --dry-run make the same checks ----------------------------------------
@pytest.fixture
def running_file(run, tmp_path):
    """experiment.yml, launched: 'web' is exposed, 's' only bound."""
    path = write(tmp_path / "experiment.yml", """
        name: checked
        processes:
          server:
            cmds: ["exec python3 -m http.server $SYMPH_WEB_PORT --bind 127.0.0.1"]
            exposes: [web]
            binds: [s]
        """)
    code, _, err = run("launch", path)
    assert code == 0, err
    return path


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_relaunching_without_force_fails_with_the_cli_fix(run, running_file, dry_run):
    code, out, err = run("launch", running_file, *dry_run)
    assert code == 1 and out == ""
    assert one_line_error(err) == (
        f"symphony: error: experiment 'checked' is already running on the local backend: replace it with "
        f"`symphony launch {running_file} --force`, or delete it first with `symphony delete checked`")


def test_dry_run_with_force_says_it_would_replace_the_experiment(run, running_file):
    code, out, err = run("launch", running_file, "--dry-run", "--force")
    assert code == 0, err
    assert out.startswith("# would delete the running experiment 'checked' first (force)\n")
    assert "process server" in out and "SYMPH_S_PORT=" in out
    assert run("ls")[1].split() == ["checked"]  # still the old run: a dry run changes nothing


def test_python_callers_get_the_same_checks(running_file):
    exp = Cluster.new("local").new_experiment("checked")
    exp.new_process("p", "sleep 60")
    with pytest.raises(ExperimentExistsError, match=r"^experiment 'checked' is already running on the local backend: "
                                                    r"delete it first .*--force \(force=True in Python\)$"):
        Cluster.new("local").launch(exp, dry_run=True)


def test_existence_is_checked_before_the_experiment_folder(run, tmp_path, running_file):
    """A running experiment is the problem to report, not the spec copy it left behind."""
    SymphonyConfig().set_experiment_folder(str(tmp_path / "runs"))
    (tmp_path / "runs" / "checked").mkdir(parents=True)
    (tmp_path / "runs" / "checked" / "experiment.yml").write_text("name: checked\n")
    for dry_run in ([], ["--dry-run"]):
        assert "is already running" in one_line_error(run("launch", running_file, *dry_run)[2])


def test_dry_run_checks_the_experiment_folder(run, tmp_path):
    """The folder would refuse the real launch, so it refuses the dry run too (and makes nothing)."""
    SymphonyConfig().set_experiment_folder(str(tmp_path / "runs"))
    path = write(tmp_path / "exp.yml", "name: saved\nprocesses:\n  p: {cmds: [sleep 60]}\n")
    assert run("launch", path, "--dry-run")[0] == 0
    assert not (tmp_path / "runs").exists()
    (tmp_path / "runs" / "saved").mkdir(parents=True)
    (tmp_path / "runs" / "saved" / "experiment.yml").write_text("name: saved\n")
    code, out, err = run("launch", path, "--dry-run")
    assert code == 1 and out == "" and "experiment.yml already exists from an earlier launch" in one_line_error(err)
    assert "--force" in err
    assert run("launch", path, "--dry-run", "--force")[0] == 0


def test_dry_run_with_force_does_not_count_the_replaced_experiments_ports(run, tmp_path):
    path = write(tmp_path / "fixed.yml", """
        name: fixed
        processes:
          server: {cmds: ["exec python3 -m http.server 23917 --bind 127.0.0.1"], binds: {s: 23917}}
        """)
    assert run("launch", path)[0] == 0
    code, out, err = run("launch", path, "--dry-run", "--force")
    assert code == 0 and "SYMPH_S_PORT=23917" in out, err
    assert run("launch", path, "--force")[0] == 0  # and the real launch agrees


# --- hints in the command line's words --------------------------------------------------
def test_switching_to_a_missing_experiment_mentions_force(run):
    code, _, err = run("exp", "newthing")
    assert code == 1 and one_line_error(err).endswith("to make it current before it exists: `symphony exp -f newthing`")


def test_visit_refuses_a_service_that_is_only_bound(run, running_file):
    code, _, err = run("visit", "s", "-u")
    assert code == 1
    assert one_line_error(err) == ("symphony: error: service 's' of 'checked' is bound, not exposed, so it has no URL: "
                                   "declare it with exposes instead of binds and relaunch (it exposes web)")
    assert run("visit", "web", "-u")[1].startswith("http://127.0.0.1:")


def test_schema_verb_prints_the_experiment_file_schema(run):
    code, out, _ = run("schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.validate(yaml.safe_load(open(f"{REPO}/examples/hello/experiment.yml")), schema)
    with pytest.raises(jsonschema.ValidationError, match="'bindz' was unexpected"):
        jsonschema.validate({"name": "x", "processes": {"a": {"cmds": ["ls"], "bindz": ["s"]}}}, schema)


def test_an_unreachable_engine_still_gets_an_offline_dry_run_that_says_what_it_skipped(capsys):
    """Container backends plan without their engine; only the dry run may go on, and it says so."""
    from symphony.errors import BackendUnavailableError
    from symphony.local import LocalCluster

    class Unreachable(LocalCluster):
        def list_experiments(self):
            raise BackendUnavailableError("cannot reach the engine")

    exp = Unreachable().new_experiment("offline")
    exp.new_process("p", "sleep 60")
    Unreachable().launch(exp, dry_run=True)
    captured = capsys.readouterr()
    assert captured.out.startswith("# local experiment 'offline'")
    assert captured.err == "warning: could not check whether 'offline' is already running: cannot reach the engine\n"
    with pytest.raises(BackendUnavailableError, match="^cannot reach the engine$"):
        Unreachable().launch(exp)
