"""SymphonyConfig: the Python calls, the config file (precedence, errors, its cache), backend defaults, build settings."""

import os

import pytest

from symphony.cli.main import SymphonyCommand
from symphony.cluster import BACKENDS
from symphony.config import ConfigError, SymphonyConfig
from symphony.engine import Cluster
from symphony.errors import SymphonyError

from clihelpers import symphony_process


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_username_and_experiment_folder_from_python(tmp_path, local_cluster):
    """One username for every experiment, and a folder keeping each launched spec."""
    SymphonyConfig().set_username("sarah")
    SymphonyConfig().set_experiment_folder(str(tmp_path / "experiments"))
    cluster = Cluster.new("local", grace=2.0)
    exp = cluster.new_experiment("rl")
    exp.new_process("learner", command="sleep", args=["60"]).binds("replay-server")
    exp.new_process("agent", command="sleep", args=["60"]).connects("replay-server")
    assert exp.name == "sarah-rl"
    cluster.launch(exp)
    saved = tmp_path / "experiments" / "sarah-rl" / "experiment.yml"
    assert saved.exists() and "replay-server" in saved.read_text()
    cluster.delete("sarah-rl")
    with pytest.raises(SymphonyError, match="already exists from an earlier launch"):
        cluster.launch(exp)
    assert cluster.list_experiments() == []
    cluster.launch(exp, force=True)
    assert cluster.list_experiments() == ["sarah-rl"]


def test_config_file_precedence(isolated_config, tmp_path, monkeypatch):
    home_file = write(tmp_path / "home" / ".symphony.yml", "username: from-home\n")
    global_file = write(tmp_path / "global.yml", "username: from-global\n")
    assert SymphonyConfig().username == "from-home" and SymphonyConfig().source == str(home_file)

    SymphonyConfig()._reset()
    monkeypatch.setenv("SYMPH_GLOBAL_CONFIG", str(global_file))
    global_file.write_text("username: from-global\nexperiment_folder: runs\n")
    assert SymphonyConfig().username == "from-global"
    assert SymphonyConfig().experiment_folder == str(tmp_path / "runs")  # relative to the file

    SymphonyConfig()._reset()
    write(isolated_config / ".symphony.yml", "experiment_folder: here\n")
    config = SymphonyConfig()
    assert config.username is None  # the first file found wins; files are not merged
    assert config.experiment_folder == str(isolated_config / "here")
    assert config.source == str(isolated_config / ".symphony.yml")


def test_calls_win_over_the_file(isolated_config):
    write(isolated_config / ".symphony.yml", "username: from-file\n")
    SymphonyConfig().set_username("from-call")
    assert SymphonyConfig().experiment_name("rl") == "from-call-rl"


@pytest.mark.parametrize("text, message", [
    ("username: sarah\nusrname: typo\n", r"\.symphony\.yml:2: unknown key 'usrname' in the Symphony config: allowed keys are username"),
    ("username: Sarah Smith\n", r"\.symphony\.yml:1: username: user name 'Sarah Smith' is invalid"),
    ("backend: tmuxx\n", r"\.symphony\.yml:1: backend: unknown backend 'tmuxx'"),
    ("backends:\n  local: 3\n", r"\.symphony\.yml:2: backends: local: must be a mapping of keyword arguments"),
    ("- a\n- b\n", r"must be a mapping of settings"),
    ("username: [unclosed\n", r"\.symphony\.yml:2: invalid YAML"),
    ("docker_build_settings:\n  - name: cpu\n    dockerfle: x\n",
     r":1: docker_build_settings: entry 'cpu': unknown key 'dockerfle'"),
    ("docker_build_settings:\n  - name: cpu\n", r"entry 'cpu': needs 'dockerfile: <path to the Dockerfile>'"),
    ("docker_build_settings:\n  - {name: a, dockerfile: x}\n  - {name: a, dockerfile: y}\n", r"two entries are named 'a'"),
])
def test_invalid_config_files_are_reported_with_file_and_line(isolated_config, text, message):
    write(isolated_config / ".symphony.yml", text)
    with pytest.raises(ConfigError, match=message):
        SymphonyConfig().username
    with pytest.raises(ConfigError, match=message):  # still reported on the next use, never half-applied
        SymphonyConfig().username


def test_invalid_config_is_one_line_from_the_command(isolated_config):
    write(isolated_config / ".symphony.yml", "usename: sarah\n")
    result = symphony_process("ls")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"symphony: error: {isolated_config}/.symphony.yml:1: unknown key 'usename' in the Symphony config: "
        "allowed keys are username, experiment_folder, backend, backends, docker_build_settings"]


def test_backend_precedence_and_keyword_arguments(isolated_config, monkeypatch):
    write(isolated_config / ".symphony.yml", "backend: subproc\nbackends:\n  local: {grace: 0.5, restart_backoff: 0.1}\n")

    def chosen(*argv):
        command = SymphonyCommand(prog="symphony")
        command.args = command.master_parser.parse_args([*argv, "ls"])
        return command.cluster

    cluster = chosen()
    assert cluster.backend_name == "local" and (cluster.grace, cluster.restart_backoff) == (0.5, 0.1)
    monkeypatch.setitem(BACKENDS, "other", "clihelpers:OtherLocalCluster")
    monkeypatch.setenv("SYMPHONY_BACKEND", "other")
    assert chosen().backend_name == "other"
    assert chosen("-b", "local").backend_name == "local"
    monkeypatch.delenv("SYMPHONY_BACKEND")
    os.remove(isolated_config / ".symphony.yml")
    SymphonyConfig()._reset()
    assert chosen().backend_name == "local" and chosen().grace == 5.0  # nothing configured: local defaults


def test_docker_build_settings_as_a_list_in_the_file(isolated_config):
    write(isolated_config / ".symphony.yml", """
docker_build_settings:
  - name: cpu-image # kurreal refers to this name when launching
    temp_directory: ~/symph_temp/cpu
    dockerfile: ~/surreal/Surreal/container/DockerfileCPU
    context_directories:
      - name: surreal
        path: ~/surreal/Surreal
        force_update: true
      - name: tensorplex
        path: ~/surreal/Tensorplex
        force_update: false
  - name: gpu-image
    dockerfile: ~/surreal/Surreal/container/DockerfileGPU
""")
    config = SymphonyConfig()
    assert list(config.docker_build_settings) == ["cpu-image", "gpu-image"]
    cpu = config.docker_build_settings["cpu-image"]  # as a project's CLI indexes it
    assert cpu["name"] == "cpu-image" and cpu["temp_directory"] == "~/symph_temp/cpu"
    assert [d["name"] for d in cpu["context_directories"]] == ["surreal", "tensorplex"]
    assert config.get_docker_build_setting("gpu-image")["context_directories"] == []
    with pytest.raises(ConfigError, match=r"no docker_build_settings entry named 'tpu' \(configured: cpu-image, gpu-image\)"):
        config.get_docker_build_setting("tpu")


def test_docker_build_settings_by_name():
    SymphonyConfig().set_docker_build_settings({"cpu": {"dockerfile": "Dockerfile"}})
    assert SymphonyConfig().get_docker_build_setting("cpu") == {
        "name": "cpu", "dockerfile": "Dockerfile", "context_directories": []}


def test_backend_keywords_are_checked_for_the_backend_created_only(isolated_config):
    """A command imports only its backend: a misspelt keyword of another one is reported when
    that one is used, with the file and line."""
    path = write(isolated_config / ".symphony.yml", "backends:\n  local: {grace: 2.0}\n  tmux:\n    server_nam: x\n")
    config = SymphonyConfig()
    assert config.backend_kwargs("local") == {"grace": 2.0}
    message = (rf"^{path}:4: backends: tmux: unknown keyword 'server_nam' for Cluster\.new\('tmux'\): "
               r"use one of .*server_name")
    for _ in range(2):  # every time that backend is asked for
        with pytest.raises(ConfigError, match=message):
            config.backend_kwargs("tmux")
    assert symphony_process("ls").returncode == 0
    result = symphony_process("-b", "tmux", "ls")
    assert result.returncode == 1 and result.stderr.startswith(f"symphony: error: {path}:4: backends: tmux: ")


def test_keywords_set_from_python_are_checked_at_once():
    with pytest.raises(ConfigError, match=r"^docker: unknown keyword 'stop_timout' for Cluster\.new\('docker'\)"):
        SymphonyConfig().set_backend_kwargs("docker", stop_timout=1)
    SymphonyConfig().set_backend_kwargs("k8s", timeout=10)
    assert SymphonyConfig().backend_kwargs("kubernetes") == {"timeout": 10}


def cache_entries(symphony_home):
    directory = symphony_home / "config-cache"
    return sorted(entry.name for entry in directory.iterdir()) if directory.exists() else []


def test_an_unchanged_config_file_is_read_from_the_cache(isolated_config, symphony_home, monkeypatch):
    import symphony.spec.serialize
    path = write(isolated_config / ".symphony.yml",
                 "username: sarah\nbackends:\n  local:\n    grace: 1\n    bogus: 1\n"
                 "docker_build_settings:\n  - {name: cpu, dockerfile: D, context_directories: [{name: c, path: p}]}\n")
    config = SymphonyConfig()
    with pytest.raises(ConfigError, match="backends: local: unknown keyword 'bogus'") as first:
        config.backend_kwargs("local")
    settings = (config.username, config.docker_build_settings)
    assert len(cache_entries(symphony_home)) == 1

    def no_parsing(stream):
        raise AssertionError("the YAML parser ran although the file did not change")
    with monkeypatch.context() as patch:
        patch.setattr(symphony.spec.serialize, "read_yaml", no_parsing)
        config._reset()
        with pytest.raises(ConfigError, match="unknown keyword 'bogus'") as again:  # the same, from the cached document
            config.backend_kwargs("local")
        assert str(again.value) == str(first.value) and str(first.value).startswith(f"{path}:5: backends: local: ")
        assert (config.username, config.docker_build_settings) == settings

    write(path, "username: sam\n")  # edited: read again
    config._reset()
    assert config.username == "sam"


def test_a_document_json_cannot_carry_is_read_every_time(isolated_config, symphony_home):
    write(isolated_config / ".symphony.yml", "username: sarah\nbackends:\n  local: {shell: 2020-01-01}\n")
    assert SymphonyConfig().username == "sarah"
    assert cache_entries(symphony_home) == []


def test_a_broken_cache_entry_is_ignored(isolated_config, symphony_home):
    write(isolated_config / ".symphony.yml", "username: sarah\n")
    assert SymphonyConfig().username == "sarah"
    [entry] = cache_entries(symphony_home)
    (symphony_home / "config-cache" / entry).write_text("{not json")
    SymphonyConfig()._reset()
    assert SymphonyConfig().username == "sarah"
