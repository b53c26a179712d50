"""Injection and secrets: hostile text arrives verbatim, hostile names are refused, secrets stay secret.

* Arguments and environment values full of shell, tmux and Kubernetes syntax, newlines and
  unicode reach the process byte-for-byte on local, tmux and Docker (the process reports
  what it got), and nothing in them is ever executed; on Kubernetes the manifest is checked.
* Names that could escape the state directory or tmux/Docker/Kubernetes naming are refused
  when declared, wherever they come from.
* The contents of secret files never appear in dry-run output, saved specs or anything in
  the state directory; that directory is 0700 and its files 0600; host services bind
  127.0.0.1.
"""

import base64
import json
import os
import re
import shlex
import socket
import stat
import subprocess
import sys
import uuid

import psutil
import pytest

from symphony import Cluster, ExperimentSpec
from symphony.config import SymphonyConfig
from symphony.errors import InvalidNameError, SpecError
from symphony.spec.serialize import experiment_from_dict

from hardeninghelpers import BASE_IMAGE, experiment_pids, wait_for

pytestmark = pytest.mark.slow

HOSTILE = ["'", '"', "$", "$HOME", "${PATH}", "$(touch PWNED)", "`touch PWNED`", ";", "a;b", "|", "x|y", "&", "a&&b",
           "\n", "multi\nline\n", "'\"$;|&\n", "\\", "\\n", "~", "~root", "*", "?", "#", "#{pane_id}", "#S", "%s", "%%",
           "-c", "--", " ", "  two  spaces ", "\t", "\r", "ünïcødé", "日本語", "🎻", "e\u0301", "\u200b", "$(A)", "$$(A)", ""]
#: prints what the process received, as ASCII JSON on one line (so no terminal or log can alter it), then
#: stays up (on Docker a group's first process holds the network namespace the others join)
PROBE = ("import json, os, sys, time; print(json.dumps({'argv': sys.argv[1:], 'env': {k: v for k, v in "
         "os.environ.items() if k.startswith('HOSTILE_')}}, ensure_ascii=True), flush=True); time.sleep(600)")


def hostile_env():
    return {f"HOSTILE_{index}": value for index, value in enumerate(HOSTILE)}


def hostile_experiment(cluster, name, python, tmp_path=None, **image):
    exp = cluster.new_experiment(name, env={"HOSTILE_EXPERIMENT": "'\"$;|&\n🎻"})
    pwned = str(tmp_path / "PWNED") if tmp_path else "/tmp/PWNED"
    args = [arg.replace("PWNED", pwned) for arg in HOSTILE]
    exp.new_process("exec", command=python, args=["-c", PROBE, *args], env=hostile_env(), **image)
    group = exp.new_process_group("g")
    group.set_env("HOSTILE_GROUP", "$(id) `id` ;|&")
    group.new_process("preamble", command=python, args=["-c", PROBE, *args], env=hostile_env(),
                      preamble_cmds=["true"], **image)
    group.new_process("shell", cmds=[shlex.join([python, "-c", PROBE, *args])], env=hostile_env(), **image)
    return exp, args


def check_received(cluster, name, args):
    expected_env = {**hostile_env(), "HOSTILE_EXPERIMENT": "'\"$;|&\n🎻"}
    for key in ("exec", "g/preamble", "g/shell"):
        lines = wait_for(lambda: list(cluster.get_log(name, key)), timeout=60)
        got = json.loads(lines[0])
        assert got["argv"] == args, f"{key}: arguments changed on the way"
        env = {k: v for k, v in got["env"].items() if k != "HOSTILE_GROUP"}
        assert env == expected_env, f"{key}: environment changed on the way"
        if key.startswith("g/"):
            assert got["env"]["HOSTILE_GROUP"] == "$(id) `id` ;|&"


@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_hostile_arguments_and_env_arrive_verbatim_on_host_backends(backend, request, tmp_path):
    cluster = request.getfixturevalue("local_cluster" if backend == "local" else "tmux_cluster")
    exp, args = hostile_experiment(cluster, "hostile", sys.executable, tmp_path)
    cluster.launch(exp)
    check_received(cluster, "hostile", args)
    assert not (tmp_path / "PWNED").exists(), "nothing in an argument was executed"
    cluster.delete("hostile")
    assert experiment_pids("hostile") == []


@pytest.mark.docker
def test_hostile_arguments_and_env_arrive_verbatim_on_docker(docker_cluster, new_name):
    name = new_name()
    exp, args = hostile_experiment(docker_cluster, name, "python3", container_image=BASE_IMAGE)
    docker_cluster.launch(exp)
    check_received(docker_cluster, name, args)
    docker_cluster.delete(name)


def kubernetes_expansion(text, env):
    """What the kubelet makes of ``command``/``args``/env values: ``$(VAR)`` -> value, ``$$`` -> ``$``."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def kube_containers(exp):
    kube = Cluster.new("kube")
    return {c["name"]: c for obj in kube.plan(exp).objects if obj["kind"] == "Pod" for c in obj["spec"]["containers"]}


def test_hostile_arguments_reach_the_kubernetes_containers_verbatim():
    """What the container receives is the manifest after the kubelet's $(VAR) expansion."""
    exp, args = hostile_experiment(Cluster.new("kube"), "hostile", "python3", container_image=BASE_IMAGE)
    containers = kube_containers(exp)
    env = {e["name"]: e["value"] for e in containers["exec"]["env"]}

    def received(values):
        return [kubernetes_expansion(value, env) for value in values]
    assert received(containers["exec"]["command"] + containers["exec"]["args"]) == ["python3", "-c", PROBE, *args]
    assert received(containers["preamble"]["command"])[-len(args):] == args
    assert {k: kubernetes_expansion(env[k], env) for k in hostile_env()} == hostile_env()


def test_kubernetes_variable_expansion_does_not_alter_arguments():
    exp, args = hostile_experiment(Cluster.new("kube"), "hostile", "python3", container_image=BASE_IMAGE)
    container = kube_containers(exp)["exec"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert [kubernetes_expansion(arg, env) for arg in container["args"]] == ["-c", PROBE, *args]


# --- names --------------------------------------------------------------------------------
HOSTILE_NAMES = ["../x", "..", ".", "x/y", "/abs", "x:y", "x.y", "$(id)", "x;y", "a b", "-x", "x-", "é", "\nx",
                 "", "a" * 64, "~root", "x\0y", "X", "x_y", "=x", "#x", "%x", "x\udcffy", "a" * 10**6]
DECLARATIONS = {
    "experiment": lambda name: ExperimentSpec(name),
    "process": lambda name: ExperimentSpec("x").new_process(name, "true"),
    "group": lambda name: ExperimentSpec("x").new_process_group(name),
    "grouped process": lambda name: ExperimentSpec("x").new_process_group("g").new_process(name, "true"),
    "service": lambda name: ExperimentSpec("x").new_process("p", "true").binds(name),
    "connected service": lambda name: ExperimentSpec("x").new_process("p", "true").connects(name),
    "username": lambda name: SymphonyConfig().set_username(name),
    "yaml experiment": lambda name: experiment_from_dict({"name": name, "processes": {"p": {"cmds": ["true"]}}}),
    "yaml process": lambda name: experiment_from_dict({"name": "x", "processes": {name: {"cmds": ["true"]}}}),
}

#: what every refusal of a name says (the name itself may hold a newline)
REFUSED_NAME = r"(?s)name (is empty|'.*' (is invalid|is \d+ characters long)): "


@pytest.mark.parametrize("where", DECLARATIONS)
def test_hostile_names_are_refused_where_they_are_declared(where):
    for name in HOSTILE_NAMES:
        with pytest.raises(SpecError, match=REFUSED_NAME) as refused:
            DECLARATIONS[where](name)
        message = str(refused.value)
        assert "\n" not in message.strip() or "\n" in name, f"{where} {name!r}: one line"
        assert isinstance(refused.value, InvalidNameError) or "name" in message, f"{where} {name!r}: {message}"


def test_a_name_ending_in_a_newline_is_refused_too():
    refused = []
    for declare in DECLARATIONS.values():
        try:
            declare("x\n")
        except SpecError:
            refused.append(declare)
    assert len(refused) == len(DECLARATIONS)


def test_hostile_tmux_server_names_are_refused():
    for name in ["../x", "x/y", "x y", "x\n", "", "a" * 101, "$(id)"]:
        with pytest.raises(SpecError, match="server_name"):
            Cluster.new("tmux", server_name=name)


def test_names_of_maximum_length_stay_inside_the_state_directory(local_cluster, symphony_home):
    exp = local_cluster.new_experiment("e" * 63)
    exp.new_process_group("g" * 63).new_process("p" * 63, "echo hi")
    local_cluster.launch(exp)
    home = os.path.realpath(symphony_home)
    (row,) = local_cluster.store.processes("local", "e" * 63)
    assert os.path.realpath(row["log_path"]).startswith(home + os.sep)
    wait_for(lambda: list(local_cluster.get_log("e" * 63, "p" * 63)) == ["hi"])
    local_cluster.delete("e" * 63)


# --- secrets --------------------------------------------------------------------------------
@pytest.fixture
def secret(tmp_path):
    marker = f"TOPSECRET-{uuid.uuid4().hex}"
    path = tmp_path / "token.txt"
    path.write_text(marker)
    return str(path), marker


def leaks(marker, text):
    encoded = base64.b64encode(marker.encode()).decode()
    return marker in text or encoded in text or encoded[:-4] in text


def files_under(directory):
    """Every file's text, read by another process: closing any descriptor of the SQLite state
    file in *this* process would drop the POSIX locks our own open connection holds on it."""
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            content = subprocess.run(["cat", path], capture_output=True, check=True).stdout
            yield path, content.decode(errors="replace")


def test_kube_secret_never_in_dry_run_saved_spec_or_other_objects(secret, tmp_path, capsys):
    from fake_apiserver import FakeApiServer
    path, marker = secret
    SymphonyConfig().set_experiment_folder(str(tmp_path / "experiments"))
    api = FakeApiServer()
    try:
        kube = Cluster.new("kube", kubeconfig=api.kubeconfig(tmp_path / "kubeconfig"), timeout=10)
        exp = kube.new_experiment("secretive", secrets=[path])
        exp.new_process("p", container_image=BASE_IMAGE, command="cat", args=["/etc/secrets/token.txt"])
        kube.launch(exp, dry_run=True)
        assert not leaks(marker, capsys.readouterr().out), "dry-run output shows the secret"
        kube.launch(exp)
        secrets = api.created("Secret")
        assert leaks(marker, json.dumps(secrets)), "the Secret itself carries the file (the check can see it)"
        assert not leaks(marker, json.dumps([o for o in api.created() if o["kind"] != "Secret"]))
        for saved, text in files_under(tmp_path / "experiments"):
            assert not leaks(marker, text), f"{saved} holds the secret"
    finally:
        api.close()


@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_host_backends_keep_secret_contents_out_of_everything_they_write(backend, request, secret, tmp_path,
                                                                          symphony_home, capsys):
    path, marker = secret
    cluster = request.getfixturevalue("local_cluster" if backend == "local" else "tmux_cluster")
    SymphonyConfig().set_experiment_folder(str(tmp_path / "experiments"))
    exp = cluster.new_experiment("secretive", secrets=[path])
    exp.new_process("p", cmds=["echo started"])
    cluster.launch(exp, dry_run=True)
    assert not leaks(marker, capsys.readouterr().out)
    cluster.launch(exp)
    wait_for(lambda: list(cluster.get_log("secretive", "p")) == ["started"])
    secrets_dir = cluster.process_environment("secretive", "p")[0]["SYMPH_SECRETS_DIR"]
    copies = [written for written, _ in files_under(secrets_dir)]
    assert [os.path.basename(c) for c in copies] == [os.path.basename(path)]
    assert stat.S_IMODE(os.stat(copies[0]).st_mode) == 0o600, "the one private copy processes read"
    for written, text in [*files_under(symphony_home), *files_under(tmp_path / "experiments")]:
        if str(written) not in copies:
            assert not leaks(marker, text), f"{written} holds the secret"
    cluster.delete("secretive")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["local", "tmux", "docker", "kube"])
def test_secrets_that_are_not_small_regular_files_are_refused_by_every_plan(backend, tmp_path, monkeypatch):
    """One validation for all backends: a FIFO hung the dry run (opening it waits for a writer),
    a device or a huge file would be copied (or put in a Secret) without end."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # plans need no engine
    os.mkfifo(tmp_path / "fifo")
    with open(tmp_path / "huge", "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: 64 MiB that take no disk
    for path, refusal in [(str(tmp_path / "fifo"), "named pipe"), ("/dev/zero", "character device"),
                          (str(tmp_path / "huge"), "over the 1 MiB")]:
        exp = ExperimentSpec("secretive", secrets=[path])
        exp.new_process("p", container_image=BASE_IMAGE, cmds=["true"])
        with pytest.raises(SpecError, match=refusal):
            Cluster.new(backend).plan(exp)


def test_text_no_engine_passes_on_unchanged_is_refused_when_declared():
    """A lone surrogate crashed tmux's launch (UnicodeEncodeError) and became U+FFFD on Docker."""
    for declare in (lambda s: ExperimentSpec("x").new_process("p", command="echo", args=[s]),
                    lambda s: ExperimentSpec("x").new_process("p", cmds=[s]),
                    lambda s: ExperimentSpec("x", env={"A": s}),
                    lambda s: experiment_from_dict({"name": "x", "processes": {"p": {"cmds": ["ls"], "labels": {"a": s}}}})):
        for text in ("\udcff", "caf\udce9", "\ud83c"):  # the last: half of a 🎻 split in UTF-16
            with pytest.raises(SpecError, match="cannot be encoded as UTF-8"):
                declare(text)


# --- privacy of the state directory, and where host services listen ---------------------------
def assert_private(home):
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    for root, dirs, files in os.walk(home):
        for name in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode) == 0o700, os.path.join(root, name)
        for name in files:
            mode = stat.S_IMODE(os.stat(os.path.join(root, name)).st_mode)
            assert mode & 0o077 == 0, f"{os.path.join(root, name)} is {oct(mode)}"


LISTENER = ("import os, socket; s = socket.socket(); "
            "s.bind((os.environ['SYMPH_BIND_HOST'], int(os.environ['SYMPH_WEB_PORT']))); s.listen(); "
            "print('listening', flush=True); s.accept()")


@pytest.mark.parametrize("backend", ["local", pytest.param("tmux", marks=pytest.mark.tmux)])
def test_state_is_private_and_services_bind_loopback(backend, request, symphony_home):
    cluster = request.getfixturevalue("local_cluster" if backend == "local" else "tmux_cluster")
    exp = cluster.new_experiment("private")
    exp.new_process("server", command=sys.executable, args=["-c", LISTENER]).binds("web")
    exp.new_process("restarting", cmds=["echo once", "exit 3"]).restart_policy("OnFailure")
    cluster.launch(exp)
    wait_for(lambda: list(cluster.get_log("private", "server")) == ["listening"])
    wait_for(lambda: next(s for s in cluster.describe_experiment("private") if s.key == "restarting").restarts >= 1)
    env, _ = cluster.process_environment("private", "server")
    assert env["SYMPH_BIND_HOST"] == env["SYMPH_WEB_HOST"] == "127.0.0.1"
    port = int(env["SYMPH_WEB_PORT"])
    listening = [c.laddr for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
    assert [address.ip for address in listening] == ["127.0.0.1"], "reachable from this machine only"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    assert_private(symphony_home)  # state.db and its WAL, logs, indexes, hook and supervisor logs
    cluster.delete("private")
    assert_private(symphony_home)
