"""The bad-input catalogue: every user mistake is one clear line, and nothing starts.

Table-driven across the Python API, YAML and JSON files and the CLI. Each refused
declaration runs against every backend present (local; tmux with a private server;
Docker when an engine answers; Kubernetes against the fake API server of
tests/kube/fake_apiserver.py) and checks: the error is a SymphonyError (CLI: exit
code 1, one line on stderr, no traceback), its message names a fix, and afterwards
nothing of it exists on that backend's engine: no state row, no process, no tmux
session or window, no Docker container, network or volume, no object written to the
API server.
"""

import os
import re
import shutil
import socket
import textwrap
import uuid

import pytest

from symphony import Cluster, ExperimentSpec
from symphony.cli.main import main as symphony
from symphony.config import SymphonyConfig
from symphony.errors import SymphonyError

from engines import require_engine
from leftovers import docker_leftovers, host_leftovers, kube_writes, stop_tmux_server, tmux_windows
from waiting import wait_for

pytestmark = pytest.mark.slow

BASE_IMAGE = "symphony-test-base:latest"
HOST = ("local", "tmux")
CONTAINERS = ("docker", "kube")
KERNEL_LIMITED = ("local", "tmux", "docker")  # the backends that exec argv on this machine's kernel
ALL = HOST + CONTAINERS
MARKS = {"tmux": pytest.mark.tmux, "docker": pytest.mark.docker}
EVERY_BACKEND = [pytest.param(backend, id=backend, marks=MARKS.get(backend, ())) for backend in ALL]


# --- the backends under test ----------------------------------------------------------------
class Target:
    """One backend under test: its cluster, the CLI's ``-b`` for it, and what it has left."""

    containers = False
    shared = False  # an engine other test sessions use too: only this test's names are its business

    def __init__(self, backend, home, cluster):
        self.backend, self.home, self.cluster = backend, home, cluster
        self.name = f"bad-{uuid.uuid4().hex[:8]}"
        self.held = []

    def held_port(self):
        """A port of this machine that a socket of this test listens on until the test ends."""
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        self.held.append(holder)
        return holder.getsockname()[1]

    def exp(self, *steps):
        """``exp_with(*steps)`` under this target's (unique) experiment name."""
        return exp_with(*steps, name=self.name)

    def launch(self, exp, images=True):
        """Launch ``exp`` here; on container backends its processes that run something get the
        test base image unless ``images`` is False (one with nothing to run gets none: on an
        image it would run the image's own command)."""
        if images and self.containers:
            for process in exp.list_all_processes():
                if not process.container_image and (process.cmds or process.command):
                    process.container_image = BASE_IMAGE
        return self.cluster.launch(exp)

    def leftovers(self, names):
        """What this backend holds of any experiment in ``names`` (or, on a private engine, of any)."""
        found = []
        listed = self.cluster.list_experiments()
        found += [f"experiment {name!r} listed" for name in listed if name in names or not self.shared]
        for name in names:
            found += host_leftovers(self.home, name) + self.engine_leftovers(name)
        return list(dict.fromkeys(found))

    def engine_leftovers(self, name):
        log_dir = self.cluster._log_dir(name)  # host backends: the run's logs
        return [f"log directory {log_dir}"] if os.path.exists(log_dir) else []

    def close(self):
        for holder in self.held:
            holder.close()


class TmuxTarget(Target):
    def __init__(self, home):
        self.server_name = f"symph-bad-{uuid.uuid4().hex[:8]}"
        SymphonyConfig().set_backend_kwargs("tmux", server_name=self.server_name, grace=1.0)
        super().__init__("tmux", home, Cluster.new("tmux", server_name=self.server_name, grace=1.0))

    def engine_leftovers(self, name):
        windows = [f"tmux window {window}" for window in tmux_windows(self.server_name)]  # a private server
        return windows + super().engine_leftovers(name)

    def close(self):
        super().close()
        stop_tmux_server(self.server_name)


class DockerTarget(Target):
    containers = shared = True

    def __init__(self, home, client):
        from dockerhelpers import docker_cluster
        self.client = client
        SymphonyConfig().set_backend_kwargs("docker", internal_network=True, stop_timeout=1)
        super().__init__("docker", home, docker_cluster())
        self.checked = {self.name}  # removed after the test if anything carries it, even when the test failed

    def engine_leftovers(self, name):
        self.checked.add(name)
        return docker_leftovers(self.client, name)

    def close(self):
        super().close()
        for name in self.checked:
            if docker_leftovers(self.client, name):
                self.cluster._remove(name)


class KubeTarget(Target):
    containers = True

    def __init__(self, home, tmp_path):
        from fake_apiserver import FakeApiServer
        self.api = FakeApiServer()
        kubeconfig = self.api.kubeconfig(tmp_path / "kubeconfig")
        SymphonyConfig().set_backend_kwargs("kube", kubeconfig=kubeconfig, timeout=10)
        super().__init__("kube", home, Cluster.new("kube", kubeconfig=kubeconfig, timeout=10))
        self.cluster.poll_interval = 0.02

    def engine_leftovers(self, name):
        return kube_writes(self.api)  # anything written, whatever its name

    def close(self):
        super().close()
        self.api.close()


def make_target(backend, home, tmp_path):
    if backend == "local":
        return Target("local", home, Cluster.new("local", grace=1))
    if backend == "tmux":
        if shutil.which("tmux") is None:
            require_engine("tmux", "tmux is not installed (apt-get install tmux)")
        return TmuxTarget(home)
    if backend == "docker":
        from dockerhelpers import engine
        client, reason = engine()
        if client is None:
            require_engine("docker", reason)
        return DockerTarget(home, client)
    return KubeTarget(home, tmp_path)


@pytest.fixture
def target(request, symphony_home, tmp_path):
    """The backend named by the test's parameter (indirect), with a clean engine to check."""
    made = make_target(request.param, symphony_home, tmp_path)
    yield made
    made.close()


def on_backends(table):
    """``(case, target)`` parameters: each case of ``table`` on each backend it applies to."""
    return [pytest.param(case, backend, id=f"{case}-{backend}", marks=MARKS.get(backend, ()))
            for case in sorted(table) for backend in (table[case][2] if len(table[case]) > 2 else ALL)]


def case(action, needle, backends=ALL):
    return action, needle, backends


def exp_with(*steps, name="bad"):
    """An experiment with one process 'p', then ``steps`` applied to it."""
    exp = ExperimentSpec(name)
    process = exp.new_process("p", "sleep 30")
    for step in steps:
        step(exp, process)
    return exp


def grouped(exp, process):
    return exp.new_process_group("g").new_process("q", "true")


def alias_bomb(levels):
    """A few hundred bytes of YAML whose aliases repeat 10^levels strings ("billion laughs")."""
    anchors = "&a0 [" + ",".join("x" * 10) + "]"
    for level in range(1, levels):
        anchors += f", &a{level} [" + ",".join([f"*a{level - 1}"] * 10) + "]"
    return f"name: x\nprocesses:\n  p:\n    cmds: [ls]\n    labels: {{k: [{anchors}]}}\n"


def nested_json(levels):
    return '{"name": "x", "processes": {"p": {"cmds": ["ls"], "env": {"A": ' + "[" * levels + "]" * levels + "}}}}"


#: name -> (action(target), needle, backends): the action raises at declaration time (the
#: target unused) or when launching on the target; backends are where the mistake applies
API_CASES = {
    "empty process name": case(lambda t: ExperimentSpec("x").new_process("", "true"), "lowercase"),
    "uppercase process name": case(lambda t: ExperimentSpec("x").new_process("Learner", "true"), "e.g. 'learner'"),
    "underscore in name": case(lambda t: ExperimentSpec("x").new_process("agent_0", "true"), "e.g. 'agent-0'"),
    "name too long": case(lambda t: ExperimentSpec("x").new_process("a" * 64, "true"), "at most 63"),
    "experiment name with space": case(lambda t: ExperimentSpec("my exp"), "e.g. 'my-exp'"),
    "name escaping a directory": case(lambda t: ExperimentSpec("../../etc"), "DNS label"),
    "duplicate process": case(lambda t: t.exp(lambda e, p: e.new_process("p", "true")), "choose another"),
    "duplicate group": case(lambda t: t.exp(lambda e, p: e.new_process_group("g"),
                                            lambda e, p: e.new_process_group("g")), "choose another"),
    "group named like a process": case(lambda t: t.exp(lambda e, p: e.new_process_group("p")), "choose another"),
    "service bound twice": case(lambda t: t.exp(lambda e, p: p.binds("s"),
                                                lambda e, p: e.new_process("o", "true").binds("s")),
                                "connect to it instead"),
    "fixed port clash": case(lambda t: t.exp(lambda e, p: p.binds({"a": 7000}), lambda e, p: p.exposes({"b": 7000})),
                             "choose another port"),
    "port out of range": case(lambda t: t.exp(lambda e, p: p.binds({"a": 70000})), "1 to 65535"),
    "port zero": case(lambda t: t.exp(lambda e, p: p.binds({"a": 0})), "1 to 65535"),
    "port as a string": case(lambda t: t.exp(lambda e, p: p.binds({"a": "6006"})), "must be an integer"),
    "label value a list": case(lambda t: t.exp(lambda e, p: p.add_labels(a=[1])), "must be a string"),
    "service name with a digit first": case(lambda t: t.exp(lambda e, p: p.binds("1st")), "start with a letter"),
    "memory 2GB": case(lambda t: t.exp(lambda e, p: p.resource_limit(mem="2GB")), "'2G'"),
    "negative cpu": case(lambda t: t.exp(lambda e, p: p.resource_request(cpu=-1)), "positive"),
    "fractional gpu": case(lambda t: t.exp(lambda e, p: p.resource_limit(gpu=1.5)), "whole number"),
    "mem and memory both": case(lambda t: t.exp(lambda e, p: p.resource_limit(mem="1G", memory="1G")), "give one"),
    "unknown restart policy": case(lambda t: t.exp(lambda e, p: p.restart_policy("Sometimes")), "OnFailure"),
    "unknown pull policy": case(lambda t: t.exp(lambda e, p: p.image_pull_policy("Often")), "IfNotPresent"),
    "cmds and command": case(lambda t: ExperimentSpec("x").new_process("p", "ls", command="ls"), "not both"),
    "pod-level call in a group": case(lambda t: t.exp(lambda e, p: grouped(e, p).node_selector("a", "b")),
                                      "call it on the group"),
    "unknown toleration key": case(lambda t: t.exp(lambda e, p: p.add_toleration(kye="x")), "use key"),
    "relative mount path": case(lambda t: t.exp(lambda e, p: p.mount_nfs("srv", "/x", "data")), "absolute path"),
    "env value not a string": case(lambda t: t.exp(lambda e, p: p.set_env("A", {"b": 1})), "string or a number"),
    "connect to unbound service": case(lambda t: t.launch(t.exp(lambda e, p: p.connects("replay"))),
                                       "binds('replay')"),
    "nothing to run": case(lambda t: t.launch(t.exp(lambda e, p: e.new_process("empty"))), "nothing to run"),
    "misspelt program": case(lambda t: t.launch(t.exp(lambda e, p: e.new_process("x", command="pyhton3"))),
                             "fix command=", HOST),
    "missing cwd": case(lambda t: t.launch(t.exp(lambda e, p: e.new_process("x", "true", cwd="/no/such/dir"))),
                        "does not exist", HOST),
    "fixed port in use": case(lambda t: t.launch(t.exp(lambda e, p: p.binds({"web": t.held_port()}))),
                              "already in use", HOST),
    "kubernetes secret mount on docker": case(lambda t: t.launch(t.exp(lambda e, p: p.mount_secret("creds", "/creds"))),
                                              "mount_host_path", ("docker",)),
    "image missing, pull policy Never": case(
        lambda t: t.launch(t.exp(lambda e, p: p.image_pull_policy("Never"),
                                 lambda e, p: setattr(p, "container_image", "symphony-no-such-image:1"))),
        "pull policy is Never", ("docker",)),
    "image that cannot be pulled": case(
        lambda t: t.launch(t.exp(lambda e, p: setattr(p, "container_image", "127.0.0.1:9/no/such:1"))),
        "cannot pull image", ("docker",)),
    "empty group": case(lambda t: t.launch(t.exp(lambda e, p: e.new_process_group("g"))), "add one"),
    "unknown backend": case(lambda t: Cluster.new("no-such-engine"), "use one of"),
    "missing image": case(lambda t: t.launch(t.exp(), images=False), "give container_image='...'", CONTAINERS),
    "unreadable secret": case(lambda t: t.launch(t.exp(lambda e, p: e.secrets.append("/no/such/secret"))),
                              "secret file '/no/such/secret' cannot be read"),
    "secret that is a device": case(lambda t: t.launch(t.exp(lambda e, p: e.secrets.append("/dev/zero"))),
                                    "is a character device, not a regular file"),
    "lone surrogate in an argument": case(lambda t: ExperimentSpec("x").new_process("p", command="echo",
                                                                                    args=["\udcff"]),
                                          "cannot be encoded as UTF-8 (a lone surrogate"),
    "lone surrogate in cwd": case(lambda t: ExperimentSpec("x").new_process("p", "true", cwd="/tmp/\udcff"),
                                  "lone surrogate"),
    "memory beyond 64 bits": case(lambda t: t.exp(lambda e, p: p.resource_limit(mem=10**5000)), "at most 2^63"),
    "argument over the kernel's limit": case(
        lambda t: t.launch(t.exp(lambda e, p: e.new_process("x", command="echo", args=["x" * 200_000]))),
        "pass large data in a file", KERNEL_LIMITED),
    "env value over the kernel's limit": case(
        lambda t: t.launch(t.exp(lambda e, p: e.new_process("x", cmds=["true"], env={"BIG": "x" * 200_000}))),
        "environment variable BIG", KERNEL_LIMITED),
    "arguments over ARG_MAX": case(
        lambda t: t.launch(t.exp(lambda e, p: e.new_process("x", command="echo", args=["x" * 100_000] * 30))),
        "(ARG_MAX): pass large data in files", KERNEL_LIMITED),
}

YAML_CASES = {
    "host_path mount without path": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n"
                                     "    mounts: [{host_path: {pth: d}, mount_path: /d}]\n",
                                     "processes.p.mounts: mount host_path takes path, type (path required)"),
    "host_path mount with a number": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n"
                                      "    mounts: [{host_path: {path: 3}, mount_path: /d}]\n", "mount_host_path path"),
    "host_path mount not a mapping": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n"
                                      "    mounts: [{host_path: data, mount_path: /d}]\n", "must be a mapping"),
    "read_only not a boolean": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n"
                                "    mounts: [{host_path: {path: /d}, mount_path: /d, read_only: maybe}]\n",
                                "read_only must be true or false"),
    "malformed yaml": ("name: x\nprocesses:\n  p: [unclosed\n", ":4: invalid YAML"),
    "unknown top-level key": ("name: x\nproceses: {}\n", ":2: proceses: unknown key"),
    "unknown process key": ("name: x\nprocesses:\n  p:\n    comand: ls\n", ":4: processes.p.comand"),
    "args not a list": ("name: x\nprocesses:\n  p:\n    command: ls\n    args: {a: 1}\n", ":5: processes.p.args"),
    "quantity typo": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    resource_limit: {mem: 4GB}\n", "'4G'"),
    "missing name": ("processes:\n  p: {cmds: [ls]}\n", "needs a name"),
    "pod-level key on grouped process": ("name: x\ngroups:\n  g:\n    processes:\n      p:\n        cmds: [ls]\n"
                                         "        node_selector: {a: b}\n", "pod-level keys belong to its group"),
    "bad name in yaml": ("name: X_Y\nprocesses:\n  p: {cmds: [ls]}\n", ":1: name"),
    "not a mapping": ("- a\n- b\n", "must be a mapping"),
    "port out of range in yaml": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    binds: {a: 99999}\n", ":5:"),
    "port as a string in yaml": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    binds: {a: '80'}\n",
                                 ":5: processes.p.binds: port '80' of service 'a' must be an integer"),
    "process listed twice": ("name: x\nprocesses:\n  p: {cmds: [ls]}\n  p: {cmds: [pwd]}\n",
                             ":4: duplicate key 'p' (first at line 3)"),
    "name given twice": ("name: x\nname: y\nprocesses:\n  p: {cmds: [ls]}\n", ":2: duplicate key 'name'"),
    "process with nothing to run": ("name: x\nprocesses:\n  p: {}\n", ":3: processes.p: process 'p' has nothing to run"),
    "process with empty cmds": ("name: x\nprocesses:\n  p:\n    cmds: []\n", ":3: processes.p: process 'p' has nothing"),
    "process without a body": ("name: x\nprocesses:\n  p:\n", ":3: processes.p: process 'p' has nothing to run"),
    "no processes": ("name: x\nprocesses: {}\n", ":2: processes: experiment 'x' has no processes"),
    "empty group in yaml": ("name: x\nprocesses:\n  p: {cmds: [ls]}\ngroups:\n  g: {}\n",
                            ":5: groups.g: process group 'g' has no processes"),
    "connect to unbound service in yaml": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    connects: [db]\n",
                                           ":5: processes.p.connects: process 'p' connects to service 'db' but no "
                                           "process binds it: add `binds: [db]`"),
    "label value a list in yaml": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    labels: {a: [1]}\n",
                                   ":5: processes.p.labels: label 'a' must be a string"),
    "alias bomb": (alias_bomb(6), ":5: aliases (*a3 among them) repeat more than 100000 values: no experiment"),
    "alias inside its own anchor": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    pod_yml: &a {b: *a}\n",
                                    ":5: alias *a is inside its own anchor &a"),
    "yaml nested 5000 levels": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    env: {A: " + "[" * 5000 + "]" * 5000 + "}\n",
                                "experiment.yml: nested too deeply (more than 100 levels"),
    "yaml nested 101 levels": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    pod_yml: {a: " + "[" * 98 + "]" * 98 + "}\n",
                               "experiment.yml:5: nested too deeply (more than 100 levels"),
    "lone surrogate in yaml args": ('name: x\nprocesses:\n  p:\n    command: echo\n    args: ["\\udcff"]\n',
                                    ":3: processes.p: process 'p' args contains a character that cannot be encoded "
                                    "as UTF-8 (a lone surrogate"),
    "lone surrogate in a yaml env name": ('name: x\nprocesses:\n  p:\n    cmds: [ls]\n    env: {"\\ud800": x}\n',
                                          ":5: processes.p.env: process 'p' env: variable name"),
    "impossible date in yaml": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    env: {A: 2020-13-45}\n",
                                ":5: invalid YAML: '2020-13-45' cannot be read as a YAML timestamp"),
    "5000-digit number in yaml": ("name: x\nprocesses:\n  p:\n    cmds: [ls]\n    env: {A: " + "9" * 5000 + "}\n",
                                  "cannot be read as a YAML int"),
}

JSON_CASES = {
    "process listed twice in json": ('{"name": "x",\n "processes": {\n  "p": {"cmds": ["ls"]},\n  "p": {}}}',
                                     ":4: duplicate key 'p' (first at line 3)"),
    "unknown key in json": ('{"name": "x",\n "processes": {\n  "p": {"cmds": ["ls"],\n   "comand": "x"}}}',
                            ":4: processes.p.comand: unknown key"),
    "nothing to run in json": ('{"name": "x",\n "processes": {\n  "p": {}}}', ":3: processes.p: process 'p' has nothing"),
    "json nested 5000 levels": (nested_json(5000), "experiment.json: nested too deeply (more than 100 levels"),
    "json nested 101 levels": (nested_json(98), "experiment.json: nested too deeply (more than 100 levels"),
    "5000-digit number in json": ('{"name": "x", "processes": {"p": {"cmds": ["ls"], "env": {"A": ' + "9" * 5000 + "}}}}",
                                  "experiment.json: a number cannot be read"),
    "lone surrogate in json": ('{"name": "x", "processes": {"p": {"command": "echo", "args": ["\\udcff"]}}}',
                               "(a lone surrogate"),
}


def assert_one_line(message, needle):
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message
    assert needle in message, message


#: experiment names the declarations above use besides each target's own
OTHER_NAMES = ("x", "bad")


def assert_nothing_started(target):
    left = target.leftovers({target.name, *OTHER_NAMES})
    assert left == [], f"a refused declaration left this on the {target.backend} backend: {left}"


@pytest.mark.parametrize("target", EVERY_BACKEND, indirect=True)
def test_the_check_sees_what_a_launch_started(target):
    """"Nothing started" is not vacuous: on each backend the check sees an experiment that did start,
    on the engine itself (tmux windows, Docker containers and networks, API server writes)."""
    exp = target.exp()
    exp.new_process_group("g").new_process("q", command="sleep", args=["30"])
    target.launch(exp)
    try:
        left = target.leftovers({target.name})
        assert any(item.startswith("state row") for item in left) or target.containers, left
        assert target.backend == "local" or target.engine_leftovers(target.name), left
        if target.backend != "kube":  # a fake API server runs nothing; elsewhere the processes show in /proc
            wait_for(lambda: any(item.startswith("process") for item in target.leftovers({target.name})))
    finally:
        target.cluster.delete(target.name)
    if target.backend != "kube":  # the fake API server keeps a record of every write
        wait_for(lambda: not target.leftovers({target.name}), timeout=30)


@pytest.mark.parametrize("case, target", on_backends(API_CASES), indirect=["target"])
def test_python_api(case, target):
    action, needle, _ = API_CASES[case]
    with pytest.raises(SymphonyError, match=re.escape(needle)) as info:
        action(target)
    assert_one_line(str(info.value), needle)
    assert_nothing_started(target)


@pytest.mark.parametrize("case, target", on_backends(YAML_CASES), indirect=["target"])
def test_yaml_files(case, target, tmp_path, capsys):
    text, needle = YAML_CASES[case]
    path = tmp_path / "experiment.yml"
    path.write_text(text)
    assert symphony(["launch", str(path), "-b", target.backend]) == 1
    assert_one_line(capsys.readouterr().err, needle)
    assert_nothing_started(target)


@pytest.mark.parametrize("case, target", on_backends(JSON_CASES), indirect=["target"])
def test_json_files(case, target, tmp_path, capsys):
    text, needle = JSON_CASES[case]
    path = tmp_path / "experiment.json"
    path.write_text(text)
    assert symphony(["launch", str(path), "-b", target.backend]) == 1
    assert_one_line(capsys.readouterr().err, needle)
    assert_nothing_started(target)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("target", EVERY_BACKEND, indirect=True)
@pytest.mark.parametrize("secret, needle", [
    ("{tmp}/fifo", "secret '{tmp}/fifo' is a named pipe (FIFO), not a regular file: save what it provides to a file"),
    ("/dev/null", "secret '/dev/null' is a character device, not a regular file"),
    ("/dev/zero", "secret '/dev/zero' is a character device, not a regular file"),
    ("{tmp}/big", "over the 1 MiB (1048576 bytes) one Kubernetes Secret holds: keep large files out of secrets=[...]"),
])
def test_secret_files_no_secret_can_hold(secret, needle, target, tmp_path, capsys):
    """A FIFO made ``launch --dry-run`` hang forever; /dev/zero would be copied until the disk is full."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "big").write_bytes(b"x" * (1024 * 1024 + 1))
    image = f", container_image: '{BASE_IMAGE}'" if target.containers else ""
    path = write(tmp_path, "experiment.yml", f"name: {target.name}\nsecrets: ['{secret.format(tmp=tmp_path)}']\n"
                                             f"processes:\n  p: {{cmds: [ls]{image}}}\n")
    for dry_run in (["--dry-run"], []):
        assert symphony(["launch", path, "-b", target.backend, *dry_run]) == 1
        assert_one_line(capsys.readouterr().err, needle.format(tmp=tmp_path))
    assert_nothing_started(target)


@pytest.mark.timeout(60)  # unfixed, nine levels never finish (or run out of memory)
def test_an_alias_bomb_is_refused_in_one_short_line(tmp_path, capsys):
    """418 bytes of aliases took 13 s to print one 580 MB error line; one more level ran out of memory."""
    path = write(tmp_path, "bomb.yml", alias_bomb(9))
    assert symphony(["launch", path, "--dry-run"]) == 1
    assert len(capsys.readouterr().err) < 300


@pytest.fixture
def running(local_cluster):
    exp = local_cluster.new_experiment("base")
    exp.new_process("worker", "sleep 60").exposes("web").binds("db")
    local_cluster.launch(exp)
    return exp


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


CLI_CASES = {
    "unknown experiment in p": (["p", "nosuch"], "symphony ls"),
    "unknown process in logs": (["logs", "nosuch", "base"], "worker"),
    "bad --since": (["logs", "worker", "base", "--since", "yesterday"], "5s, 2m, 3h"),
    "bad --tail": (["logs", "worker", "base", "--tail", "many"], "tail"),
    "exec without --": (["exec", "worker", "base", "ls"], "--"),
    "unknown backend option": (["-b", "no-such-engine", "ls"], "use one of"),
    "delete unknown experiment": (["delete", "-f", "nosuch"], "nosuch"),
    "visit unknown service": (["visit", "nosuch", "base", "-u"], "web"),
    "launch a missing file": (["launch", "/no/such/experiment.yml"], "/no/such/experiment.yml"),
    "launch an unknown file type": (["launch", "{tmp}/experiment.txt"], ".yml"),
    "python file without experiment": (["launch", "{tmp}/empty.py"], "build(cluster)"),
    "scp missing source": (["scp", "worker:no-such-file", "{tmp}/x", "base"], "no-such-file"),
    "relaunch without --force": (["launch", "{tmp}/base.yml"], "`symphony launch {tmp}/base.yml --force`"),
    "dry run of a relaunch without --force": (["launch", "{tmp}/base.yml", "--dry-run"], "is already running"),
    "switch to a missing experiment": (["exp", "nosuch"], "`symphony exp -f nosuch`"),
    "visit a service that is only bound": (["visit", "db", "base", "-u"], "bound, not exposed"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli(case, running, tmp_path, capsys):
    write(tmp_path, "experiment.txt", "name: x\n")
    write(tmp_path, "empty.py", "x = 1\n")
    write(tmp_path, "base.yml", "name: base\nprocesses:\n  worker: {cmds: [sleep 60]}\n")
    argv = [arg.format(tmp=tmp_path) for arg in CLI_CASES[case][0]]
    assert symphony(argv) == 1
    captured = capsys.readouterr()
    assert_one_line(captured.err, CLI_CASES[case][1].format(tmp=tmp_path))
    assert Cluster.new("local").list_experiments() == ["base"], "nothing started besides the running experiment"


CONFIG_CASES = {
    "unknown config key": ("usrname: sarah\n", "usrname"),
    "unknown backend keyword": ("backends:\n  local: {bogus: 1}\n", ":2: backends: local: unknown keyword 'bogus'"),
    "backend keyword misspelt": ("backends:\n  tmux:\n    server_nam: x\n", ":3: backends: tmux: unknown keyword"),
    "backend value of the wrong type": ("backends: {local: {grace: abc}}\n", "grace='abc'"),
    "bind_host not an address": ("backends: {local: {bind_host: 0}}\n", "bind_host must be an address"),
    "config key given twice": ("username: a\nusername: b\n", ":2: duplicate key 'username'"),
    "alias bomb in the config": ("x: [&a0 [" + ",".join("x" * 10) + "]" +
                                 "".join(f", &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)) + "]\n",
                                 ":1: aliases (*a3 among them) repeat more than 100000 values"),
    "config nested 5000 levels": ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_files(case, tmp_path, monkeypatch, capsys):
    text, needle = CONFIG_CASES[case]
    monkeypatch.setenv("SYMPH_GLOBAL_CONFIG", write(tmp_path, "config.yml", text))
    # a backend's settings are checked when that backend is used (the CLI imports no other backend)
    backend = "tmux" if "tmux" in text else "local"
    assert symphony(["ls", "-b", backend]) == 1
    assert_one_line(capsys.readouterr().err, needle)


def test_catalogue_size():
    assert len(API_CASES) + len(YAML_CASES) + len(JSON_CASES) + len(CLI_CASES) + len(CONFIG_CASES) >= 60
