"""The Docker plan: how the model maps onto containers and networks. No engine needed."""

import pytest

from symphony import Cluster, ExperimentSpec
from symphony.docker.holder import HOLDER_IMAGE
from symphony.errors import SpecError
from symphony.spec.commands import guarded_preamble

IMAGE = "registry.example:5000/team/app:1.0"


@pytest.fixture
def no_engine(monkeypatch):
    """Dry runs and plans must work with no Docker engine at all."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")


def containers(plan):
    return {c.key: c for c in plan.containers}


def test_dry_run_prints_network_and_containers_without_an_engine(no_engine, capsys):
    cluster = Cluster.new("docker")
    exp = cluster.new_experiment("rl")
    learner = exp.new_process("learner", container_image=IMAGE, command="python", args=["learner.py", "--lr", "1e-3 x"])
    agent = exp.new_process("agent", container_image=IMAGE, cmds=["cd /app", "python agent.py"])
    learner.binds(["replay-server", "parameter-server"]).exposes({"tensorboard": 6006})
    agent.connects(["replay-server", "parameter-server"])
    plan = cluster.launch(exp, dry_run=True)
    printed = capsys.readouterr().out
    assert printed.startswith("# docker experiment 'rl': 2 containers\n")
    assert "name: symphony-rl" in printed and "rl.learner:" in printed and "- 1e-3 x" in printed
    by_key = containers(plan)
    assert (by_key["learner"].entrypoint, by_key["learner"].command) == (["python"], ["learner.py", "--lr", "1e-3 x"])
    assert (by_key["agent"].entrypoint, by_key["agent"].command) == (["/bin/sh"], ["-c", "cd /app\npython agent.py"])
    env = by_key["agent"].environment
    assert env["SYMPH_REPLAY_SERVER_HOST"] == "learner" and env["SYMPH_BIND_HOST"] == "0.0.0.0"
    assert env["SYMPH_TENSORBOARD_ADDR"] == "learner:6006" and env["SYMPH_PROCESS"] == "agent"
    assert len({env["SYMPH_REPLAY_SERVER_PORT"], env["SYMPH_PARAMETER_SERVER_PORT"], "6006"}) == 3
    assert by_key["learner"].ports == {"6006/tcp": ["127.0.0.1", None]}
    assert by_key["learner"].labels["symphony.exposes"] == '{"tensorboard": 6006}'


def test_group_shares_its_holders_namespace_which_publishes_and_starts_first(no_engine):
    exp = ExperimentSpec("exp")
    group = exp.new_process_group("nonagent")
    group.new_process("learner", container_image=IMAGE, cmds=["learn"]).binds("sampler")
    group.new_process("tensorboard", container_image=IMAGE, cmds=["tb"]).exposes({"tensorboard": 6006})
    exp.new_process("agent", container_image=IMAGE, cmds=["act"]).connects("sampler")
    group.restart_policy("OnFailure").add_label("team", "rl")
    plan = Cluster.new("docker").plan(exp)
    by_key = containers(plan)
    holder, learner, member = by_key["nonagent"], by_key["nonagent/learner"], by_key["nonagent/tensorboard"]
    assert plan.containers[0] is holder, "holders start before every process"
    # each member answers as <group>--<process> too, as the original Symphony named group members
    assert (holder.network, holder.aliases, holder.hostname, holder.network_mode) == (
        "symphony-exp", ["nonagent", "nonagent--learner", "nonagent--tensorboard"], "nonagent", None)
    assert holder.labels["symphony.role"] == "holder" and holder.image == HOLDER_IMAGE
    assert (holder.entrypoint, holder.command, holder.pull_policy) == (["/pause"], [], "Never")
    assert holder.restart_policy == {"Name": "always"}
    for process in (learner, member):
        assert (process.network, process.network_mode) == (None, "container:exp.nonagent")
        assert process.ports == {}
    assert holder.ports == {"6006/tcp": ["127.0.0.1", None]}
    assert by_key["agent"].environment["SYMPH_SAMPLER_HOST"] == "nonagent"
    assert member.restart_policy == {"Name": "on-failure", "MaximumRetryCount": 0}
    assert by_key["agent"].restart_policy == {"Name": "no"}
    assert member.labels["team"] == "rl" and "team" not in by_key["agent"].labels


def test_args_only_keeps_the_image_entrypoint_and_a_preamble_before_it_is_refused(no_engine):
    plain = ExperimentSpec("plain")
    plain.new_process("args-only", container_image=IMAGE, args=["--flag", "a b"])
    without = containers(Cluster.new("docker").plan(plain))["args-only"]
    assert (without.entrypoint, without.command) == (None, ["--flag", "a b"])
    # the image's entrypoint is unknown until the container runs, so nothing can run before it:
    # planning `sh -c 'pre; exec "$@"' args-only --flag` would execute --flag
    exp = ExperimentSpec("exp", preamble_cmds=["source /venv/bin/activate"])
    exp.new_process("args-only", container_image=IMAGE, args=["--flag", "a b"])
    with pytest.raises(SpecError, match="gives args without command, which keeps the image's entrypoint, "
                                        "so preamble_cmds cannot run first: give command= as well"):
        Cluster.new("docker").plan(exp)
    with_command = ExperimentSpec("with-command", preamble_cmds=["source /venv/bin/activate"])
    with_command.new_process("p", container_image=IMAGE, command="run", args=["--flag", "a b"])
    planned = containers(Cluster.new("docker").plan(with_command))["p"]
    assert planned.entrypoint == ["/bin/sh"]
    script = "\n".join(guarded_preamble(["source /venv/bin/activate"]) + ['exec "$@"'])
    assert planned.command == ["-c", script, "p", "run", "--flag", "a b"]


def test_an_image_alone_runs_its_own_default_command(no_engine):
    exp = ExperimentSpec("exp")
    exp.new_process("server", container_image=IMAGE)
    planned = containers(Cluster.new("docker").plan(exp))["server"]
    assert (planned.entrypoint, planned.command) == (None, [])
    assert "entrypoint" not in planned.create_kwargs(_offline_client()) and planned.create_kwargs(_offline_client())["command"] == []


def test_group_resources_are_defaults_for_its_processes(no_engine):
    exp = ExperimentSpec("exp")
    group = exp.new_process_group("grp")
    group.resource_limit(cpu=2, mem="1Gi")
    group.new_process("a", container_image=IMAGE, command="run")
    group.new_process("b", container_image=IMAGE, command="run").resource_limit(cpu=1)
    planned = containers(Cluster.new("docker").plan(exp))
    assert planned["grp/a"].resources == {"nano_cpus": 2_000_000_000, "mem_limit": 2**30}
    assert planned["grp/b"].resources == {"nano_cpus": 1_000_000_000, "mem_limit": 2**30}


def _offline_client():
    import docker
    return docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")


def test_resources_gpus_and_mounts_in_docker_terms(no_engine, tmp_path):
    exp = ExperimentSpec("exp")
    proc = exp.new_process("p", container_image=IMAGE, cmds=["run"])
    proc.resource_request(cpu="500m", mem="1Gi").resource_limit(cpu=1.5, memory="2G", gpu=2)
    proc.mount_host_path("~/data", "/data", read_only=True).mount_empty_dir("/scratch")
    proc.mount_shared_memory("1Gi").mount_nfs(server="fs.local", path="/exports/x", mount_path="/fs")
    plan = Cluster.new("docker").plan(exp)
    planned = containers(plan)["p"]
    assert planned.resources == {"nano_cpus": 1_500_000_000, "mem_limit": 2_000_000_000,
                                 "cpu_shares": 512, "mem_reservation": 2**30}
    assert planned.gpus == 2
    kinds = {m["target"]: m for m in planned.mounts}
    assert kinds["/data"]["type"] == "bind" and kinds["/data"]["read_only"] and not kinds["/data"]["source"].startswith("~")
    assert kinds["/scratch"] == {"type": "tmpfs", "target": "/scratch", "tmpfs_size": None}
    assert kinds["/dev/shm"]["tmpfs_size"] == 2**30
    assert kinds["/fs"]["driver_opts"] == {"type": "nfs", "o": "addr=fs.local", "device": ":/exports/x"}
    assert kinds["/fs"]["labels"] == {"symphony.experiment": "exp"}

    import docker
    client = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    kwargs = planned.create_kwargs(client)
    assert kwargs["device_requests"][0]["Count"] == 2 and kwargs["device_requests"][0]["Capabilities"] == [["gpu"]]
    assert kwargs["init"] is True and kwargs["nano_cpus"] == 1_500_000_000
    mounts = {m["Target"]: m for m in kwargs["mounts"]}
    assert mounts["/fs"]["VolumeOptions"]["DriverConfig"]["Options"]["type"] == "nfs"
    assert mounts["/dev/shm"]["TmpfsOptions"] == {"SizeBytes": 2**30}
    assert kwargs["networking_config"]["symphony-exp"]["Aliases"] == ["p"]


@pytest.mark.parametrize("declare, message", [
    (lambda p: p.mount_secret("creds", "/secrets"), "mounts Kubernetes secret 'creds', which Docker cannot provide"),
    (lambda p: p.mount_volume({"configMap": {"name": "c"}}, "/cfg"), "raw Kubernetes volume at /cfg"),
])
def test_kubernetes_only_volumes_are_refused_before_launch(no_engine, declare, message):
    exp = ExperimentSpec("exp")
    declare(exp.new_process("p", container_image=IMAGE, cmds=["run"]))
    with pytest.raises(SpecError, match=message):
        Cluster.new("docker").launch(exp, dry_run=True)


def test_a_process_without_an_image_is_a_declaration_error(no_engine):
    exp = ExperimentSpec("exp")
    exp.new_process("p", cmds=["run"])
    with pytest.raises(SpecError, match="process 'p' has no container image: give container_image="):
        Cluster.new("docker").plan(exp)


def test_build_image_from_yaml_is_planned_with_the_experiment_tag(no_engine, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "src").mkdir()
    exp = ExperimentSpec.load_yaml(
        "name: exp-1\n"
        "processes:\n"
        "  agent:\n"
        "    container_image: us.gcr.io/proj/surreal-cpu:latest\n"
        "    build_image: cpu-image\n"
        "    args: [agent]\n")
    settings = {"cpu-image": {"temp_directory": str(tmp_path / "temp"), "dockerfile": str(tmp_path / "Dockerfile"),
                              "context_directories": [{"name": "surreal", "path": str(tmp_path / "src"),
                                                       "force_update": True}]}}
    plan = Cluster.new("docker", build_settings=settings).plan(exp)
    assert containers(plan)["agent"].image == "us.gcr.io/proj/surreal-cpu:exp-1"
    (build,) = plan.builds
    assert build["tags"] == ["us.gcr.io/proj/surreal-cpu:exp-1"] and build["used_by"] == ["agent"]
    assert build["context_directories"] == {"surreal": str(tmp_path / "src")} and build["push"] is False
    assert not (tmp_path / "temp").exists()  # planning copies nothing


def test_build_settings_come_from_the_config_when_not_given(no_engine, tmp_path, monkeypatch):
    from symphony.config import SymphonyConfig
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    asked = []

    def get_docker_build_setting(self, name):
        asked.append(name)
        return {"name": name, "temp_directory": str(tmp_path / "t"), "dockerfile": str(tmp_path / "Dockerfile")}
    monkeypatch.setattr(SymphonyConfig, "get_docker_build_setting", get_docker_build_setting, raising=False)
    exp = ExperimentSpec("exp")
    exp.new_process("a", build_image="gpu-image", cmds=["run"])
    exp.new_process("b", build_image="gpu-image", cmds=["run"])
    plan = Cluster.new("docker").plan(exp)
    assert asked == ["gpu-image"]
    assert {c.image for c in plan.containers} == {"gpu-image:exp"}


def build_settings(tmp_path, *names):
    """Valid build settings (an existing Dockerfile) named ``names``."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    return {name: {"temp_directory": str(tmp_path / name), "dockerfile": str(tmp_path / "Dockerfile")}
            for name in names}


def test_two_build_settings_tagging_one_repository_are_refused(no_engine, tmp_path):
    """Both would be tagged some-repo/agent:<experiment>: the second build would replace the first."""
    cluster = Cluster.new("docker", build_settings=build_settings(tmp_path, "cpu-image", "other-image"))
    exp = cluster.new_experiment("exp")
    exp.new_process("p1", container_image="some-repo/agent", build_image="cpu-image", cmds=["run"])
    exp.new_process("p2", container_image="some-repo/agent:gpu", build_image="other-image", cmds=["run"])
    with pytest.raises(SpecError, match=r"build settings 'cpu-image' \(process 'p1'\) and 'other-image' \(process "
                                        r"'p2'\) would both be tagged some-repo/agent:exp, .*distinct container_image "
                                        r"repositories \(e.g. some-repo/agent-cpu-image and some-repo/agent-other-image\)"):
        cluster.plan(exp)  # what a dry run prints
    # the same setting for both, or distinct repositories, is fine
    exp.get_process("p2").container_image = "some-repo/agent-gpu"
    images = {c.key: c.image for c in cluster.plan(exp).containers}
    assert images == {"p1": "some-repo/agent:exp", "p2": "some-repo/agent-gpu:exp"}


def test_a_build_named_after_its_setting_cannot_take_another_settings_repository(no_engine, tmp_path):
    cluster = Cluster.new("docker", build_settings=build_settings(tmp_path, "cpu-image", "other-image"))
    exp = cluster.new_experiment("exp")
    exp.new_process("p1", build_image="cpu-image", cmds=["run"])
    exp.new_process("p2", container_image="cpu-image:v2", build_image="other-image", cmds=["run"])
    with pytest.raises(SpecError, match="'cpu-image' .* and 'other-image' .* would both be tagged cpu-image:exp"):
        cluster.plan(exp)


@pytest.mark.parametrize("container_image, build_image, message", [
    (None, "Other_Image", r"process 'p': the image built from 'Other_Image' would be tagged 'Other_Image:exp' \(named "
                          r"after the build setting\), which is not a valid Docker image name \(repository names must "
                          r"be lowercase\): give the process container_image='<lowercase repository>'"),
    ("Bad Image:latest", "cpu-image", r"tagged 'Bad Image:exp' \(from its container_image 'Bad Image:latest'\), which "
                                      r"is not a valid Docker image name \(image names cannot contain spaces\): fix "
                                      r"container_image"),
    ("Bad Image:latest", None, r"process 'p': container_image: 'Bad Image:latest' is not a valid Docker image name: "
                               r"image names cannot contain spaces"),
    ("registry.example:5000/Team/app", None, "'registry.example:5000/Team/app' is not a valid .*must be lowercase"),
    ("app:-1", None, "'app:-1' is not a valid Docker image name: a tag is up to 128"),
])
def test_invalid_image_names_are_declaration_errors(no_engine, tmp_path, container_image, build_image, message):
    """The engine would refuse them mid-launch with a raw 400/500; a dry run catches them."""
    cluster = Cluster.new("docker", build_settings=build_settings(tmp_path, "cpu-image", "Other_Image"))
    exp = cluster.new_experiment("exp")
    exp.new_process("p", container_image=container_image, build_image=build_image, cmds=["run"])
    with pytest.raises(SpecError, match=message):
        cluster.plan(exp)


@pytest.mark.parametrize("image", [
    "app", "some-repo/agent:exp", "us.gcr.io/proj/surreal-cpu:latest", "localhost/a", "localhost:5000/a/b:c",
    "127.0.0.1:5000/symphony-test_x:t", "a--b__c.d", "ubuntu:22.04", "app@sha256:" + "0" * 64,
    "app:v1@sha256:" + "0" * 64, "My.Registry:5000/app"])
def test_valid_image_names_pass(image):
    from symphony.spec.images import image_reference_problem
    assert image_reference_problem(image) is None


@pytest.mark.parametrize("image", [
    "App", "team/App", "Other_Image/x", "a b", "a::b", "a:", "-a", "a___b", "a..b", "a-", "a:.x",
    "app@sha256:12", "a" * 256, "bad_host:5000/a"])
def test_invalid_image_names_are_found(image):
    from symphony.spec.images import image_reference_problem
    assert image_reference_problem(image)


@pytest.mark.parametrize("cwd, suggestion", [("app", "/app"), ("./app/x", "/app/x"), ("~/work", "/work")])
def test_a_relative_working_directory_is_refused_before_launch(no_engine, cwd, suggestion):
    """The cwd is inside the container, where nothing says what it would be relative to."""
    exp = ExperimentSpec("exp")
    exp.new_process("p", container_image=IMAGE, cmds=["run"], cwd=cwd)
    with pytest.raises(SpecError, match=f"process 'p': cwd '{cwd}' is a directory inside the container and must be "
                                        f"absolute there: give an absolute path such as '{suggestion}'"):
        Cluster.new("docker").plan(exp)
    exp.get_process("p").cwd = "/srv/app"
    assert containers(Cluster.new("docker").plan(exp))["p"].working_dir == "/srv/app"


def test_internal_networks_plan_no_port_bindings_docker_would_ignore(no_engine):
    exp = ExperimentSpec("exp")
    exp.new_process("web", container_image=IMAGE, cmds=["serve"]).exposes({"http": 8080})
    group = exp.new_process_group("g")
    group.new_process("tb", container_image=IMAGE, cmds=["tb"]).exposes({"tensorboard": 6006})
    internal = Cluster.new("docker", internal_network=True).plan(exp)
    assert "127.0.0.1" not in internal.render()
    plan = containers(internal)
    assert plan["web"].ports == plan["g"].ports == {}
    # visit still finds the services: the label names them, the container's address serves them
    assert plan["web"].labels["symphony.exposes"] == '{"http": 8080}'
    assert plan["g"].labels["symphony.exposes"] == '{"tensorboard": 6006}'
    routable = containers(Cluster.new("docker").plan(exp))
    assert routable["web"].ports == {"8080/tcp": ["127.0.0.1", None]}
    assert routable["g"].ports == {"6006/tcp": ["127.0.0.1", None]}


def test_importing_the_backend_does_not_import_the_docker_sdk():
    import subprocess
    import sys
    code = ("import sys; from symphony import Cluster; import symphony.addons; Cluster.new('docker'); "
            "print('docker' in sys.modules, 'rich' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["False", "False"]


# --- the restart runner (symphony/docker/tools.py) ------------------------------------------------
needs_busybox = pytest.mark.skipif(__import__("symphony.docker.tools", fromlist=["x"]).find_busybox() is None,
                                   reason="no static busybox here: install busybox-static (.ci/docker-up does)")


@needs_busybox
def test_processes_that_may_restart_run_under_the_runner_with_the_host_backends_backoff(no_engine):
    from symphony.docker.tools import BUSYBOX, RUNNER, STATE_DIR, TOOLS_DIR
    from symphony.host.restarts import MAX_BACKOFF_SECONDS, restart_delay
    cluster = Cluster.new("docker", restart_backoff=0.5)
    exp = cluster.new_experiment("exp")
    exp.new_process("always", container_image=IMAGE, command="python", args=["a.py"]).restart_policy("Always")
    exp.new_process("retry", container_image=IMAGE, cmds=["run"]).restart_policy("OnFailure")
    exp.new_process("once", container_image=IMAGE, command="python", args=["b.py"])
    plan = cluster.plan(exp)
    by_key = containers(plan)
    delays = [restart_delay(0.5, n) for n in range(8)]
    assert delays[-1] == MAX_BACKOFF_SECONDS
    assert by_key["always"].runner == [BUSYBOX, "sh", RUNNER, "111", "1000", ",".join(f"{d:g}" for d in delays),
                                       f"{STATE_DIR}/exp.always", "--"]
    assert by_key["retry"].runner[3] == "011" and by_key["once"].runner is None
    mounts = {m["target"]: m for m in by_key["always"].mounts}
    assert mounts[TOOLS_DIR]["read_only"] and not mounts[STATE_DIR]["read_only"]
    assert mounts[STATE_DIR]["source"] == "symphony-exp-state" and not by_key["once"].mounts
    # what the process runs is unchanged: the runner runs exactly that
    meanings = plan.process_meanings()
    assert meanings["always"].argv == ["python", "a.py"] and meanings["always"].mounts == []
    assert by_key["always"].argv() == ["python", "a.py"]
    assert by_key["retry"].argv() == ["/bin/sh", "-c", "run"]
    assert "symphony-tools-" in plan.render() and not plan.not_applied


def test_without_a_static_busybox_the_engine_restarts_and_the_plan_says_so(no_engine, monkeypatch):
    import sys
    monkeypatch.setenv("SYMPHONY_BUSYBOX", sys.executable)  # dynamically linked: it would need the image's libc
    cluster = Cluster.new("docker")
    exp = cluster.new_experiment("exp")
    exp.new_process("always", container_image=IMAGE, command="python").restart_policy("Always")
    exp.new_process("once", container_image=IMAGE, command="python")
    plan = cluster.plan(exp)
    assert all(c.runner is None and not c.mounts for c in plan.containers)
    assert containers(plan)["always"].restart_policy == {"Name": "always"}
    note, = plan.not_applied
    assert note.startswith("restart_backoff: not applied to always: ") and "SYMPHONY_BUSYBOX" in note


@pytest.mark.parametrize("value", [-1, "soon", float("nan"), True])
def test_restart_backoff_must_be_seconds(value):
    from symphony.errors import BackendSettingError
    with pytest.raises(BackendSettingError, match="restart_backoff must be a number of seconds >= 0"):
        Cluster.new("docker", restart_backoff=value)


def test_sigdfl_gives_the_program_sigint_and_sigquit_back(tmp_path):
    import platform
    import signal
    import subprocess
    from symphony.docker.tools import sigdfl_program
    if platform.machine() != "x86_64":
        pytest.skip("runs the x86_64 program")
    program = tmp_path / "sigdfl"
    program.write_bytes(sigdfl_program("x86_64"))
    program.chmod(0o755)

    def ignore():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    ignored = subprocess.run(["grep", "SigIgn", "/proc/self/status"], preexec_fn=ignore, capture_output=True, text=True)
    assert int(ignored.stdout.split()[1], 16) & 0b110 == 0b110  # what a shell's background child gets
    done = subprocess.run([str(program), "/bin/grep", "SigIgn", "/proc/self/status"], preexec_fn=ignore,
                          capture_output=True, text=True)
    assert int(done.stdout.split()[1], 16) & 0b110 == 0
    assert subprocess.run([str(program), "/bin/sh", "-c", "exit 7"]).returncode == 7
    assert subprocess.run([str(program), str(tmp_path / "absent")]).returncode == 127


@needs_busybox
def test_the_runner_restarts_by_the_decision_and_keeps_its_record(tmp_path):
    import subprocess
    from symphony.docker.tools import RUNNER_SCRIPT, decision, find_busybox, parse_record
    (tmp_path / "run").write_text(RUNNER_SCRIPT)
    (tmp_path / "sigdfl").write_bytes(__import__("symphony.docker.tools", fromlist=["x"]).sigdfl_program(
        find_busybox().architecture))
    (tmp_path / "sigdfl").chmod(0o755)
    restarts, stable, _ = decision("OnFailure", 0)
    # fails twice (exit 3), then succeeds: OnFailure runs it three times, then the runner exits 0
    program = 'n=$(cat count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > count; echo run $n; [ $n -ge 3 ] || exit 3'
    done = subprocess.run([find_busybox().path, "sh", str(tmp_path / "run"), restarts, stable, "0", "record", "--",
                           "sh", "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "run 1\nrun 2\nrun 3\n")
    record = parse_record((tmp_path / "record").read_text())
    assert (record.restarts, record.state, record.exit_code) == (2, "exited", 0)
    # a program not on PATH: 127, said on stderr, and Never does not restart it
    never, stable, delays = decision("Never", 1)
    done = subprocess.run([find_busybox().path, "sh", str(tmp_path / "run"), never, stable, delays, "record", "--",
                           "no-such-program"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (127, "symphony: no-such-program: not found\n")
