"""Translation of the model into Kubernetes manifests, knob by knob; every manifest schema-validated."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from symphony import Cluster
from symphony.errors import (BackendUnavailableError, InvalidQuantityError, PodLevelSettingError, SpecError)
from symphony.kube import KubeCluster, deep_merge
from symphony.spec.commands import guarded_preamble

IMAGE = "python:3.11-slim"


def by_kind(plan, kind):
    return {obj["metadata"]["name"]: obj for obj in plan.of_kind(kind)}


def container(plan, pod, name=None):
    containers = by_kind(plan, "Pod")[pod]["spec"]["containers"]
    return next(c for c in containers if c["name"] == (name or pod))


def env_of(container_obj):
    return {item["name"]: item["value"] for item in container_obj["env"]}


def test_aliases_and_the_documented_import_give_a_kube_cluster():
    for name in ("kube", "kubernetes", "k8s", "Kubernetes"):
        assert isinstance(Cluster.new(name), KubeCluster)


def test_kubernetes_client_is_not_imported_until_a_cluster_is_contacted():
    code = ("import sys; from symphony.kube import KubeCluster; c = KubeCluster(); "
            "e = c.new_experiment('x'); e.new_process('a', container_image='i', command='true'); c.plan(e); "
            "assert 'kubernetes' not in sys.modules, 'kubernetes imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bound_and_exposed_services_become_services_selecting_the_owning_pod(kube, validate_all):
    exp = kube.new_experiment("rl")
    learner = exp.new_process("learner", container_image=IMAGE, command="python", args=["learner.py"])
    agent = exp.new_process("agent", container_image=IMAGE, command="python", args=["agent.py"])
    learner.binds(["replay-server", "parameter-server"])
    learner.exposes({"tensorboard": 6006})
    agent.connects(["replay-server", "parameter-server"])
    plan = kube.plan(exp)
    validate_all(plan.objects)

    assert [obj["kind"] for obj in plan.objects] == ["Namespace"] + ["Service"] * 3 + ["Pod"] * 2
    namespace = plan.objects[0]
    assert namespace["metadata"] == {"name": "rl", "labels": {"app.kubernetes.io/managed-by": "symphony",
                                                              "symphony/experiment": "rl"}}
    services = by_kind(plan, "Service")
    assert services["replay-server"]["spec"]["type"] == "ClusterIP"
    assert services["tensorboard"]["spec"]["type"] == "LoadBalancer"
    for svc in services.values():
        assert svc["spec"]["selector"] == {"symphony/experiment": "rl", "symphony/pod": "learner"}
    assert services["tensorboard"]["spec"]["ports"][0]["port"] == 6006
    ports = [svc["spec"]["ports"][0]["port"] for svc in services.values()]
    assert len(set(ports)) == 3

    env = env_of(container(plan, "agent"))
    assert env["SYMPH_REPLAY_SERVER_HOST"] == "replay-server"
    assert env["SYMPH_REPLAY_SERVER_PORT"] == str(services["replay-server"]["spec"]["ports"][0]["port"])
    assert env["SYMPH_TENSORBOARD_ADDR"] == "tensorboard:6006"
    assert env["SYMPH_BIND_HOST"] == "0.0.0.0"
    assert env["SYMPH_EXPERIMENT"] == "rl" and env["SYMPH_PROCESS"] == "agent"
    assert sorted(p["containerPort"] for p in container(plan, "learner")["ports"]) == sorted(ports)


def test_node_port_is_selectable_for_exposed_services(validate_all):
    kube = Cluster.new("kube", exposed_service_type="NodePort")
    exp = kube.new_experiment("np")
    exp.new_process("tb", container_image=IMAGE, command="tensorboard").exposes("tensorboard")
    plan = kube.plan(exp)
    validate_all(plan.objects)
    assert by_kind(plan, "Service")["tensorboard"]["spec"]["type"] == "NodePort"
    with pytest.raises(SpecError, match="use one of LoadBalancer, NodePort"):
        Cluster.new("kube", exposed_service_type="Ingress")


def test_commands_exec_form_verbatim_args_alone_keep_the_entrypoint_cmds_run_in_a_shell(kube, validate_all):
    exp = kube.new_experiment("cmds")
    exp.new_process("exec", container_image=IMAGE, command="python", args=["-c", "print('a b'); import sys", "$HOME"],
                    cwd="/work")
    exp.new_process("entry", container_image=IMAGE, args=["--flag", "two words"])
    exp.new_process("shell", ["cd /tmp", "echo $HOME && ls"], container_image=IMAGE)
    exp.new_process("default", container_image="redis:7")
    exp.new_process("pre", container_image=IMAGE, command="python", args=["x y.py"], preamble_cmds=["export A=1"])
    plan = kube.plan(exp)
    validate_all(plan.objects)

    assert container(plan, "exec")["command"] == ["python"]
    # '$' is written '$$' so the kubelet's $(VAR) expansion hands the program a literal '$HOME'
    assert container(plan, "exec")["args"] == ["-c", "print('a b'); import sys", "$$HOME"]
    assert container(plan, "exec")["workingDir"] == "/work"
    assert "command" not in container(plan, "entry") and container(plan, "entry")["args"] == ["--flag", "two words"]
    assert container(plan, "shell")["command"] == ["/bin/sh", "-c", "cd /tmp\necho $$HOME && ls"]
    assert "command" not in container(plan, "default") and "args" not in container(plan, "default")
    script = "\n".join(guarded_preamble(["export A=1"]) + ['exec "$@"']).replace("$", "$$")
    assert container(plan, "pre")["command"] == ["/bin/sh", "-c", script, "pre", "python", "x y.py"]


def test_cluster_preamble_and_shell_apply_to_every_process(validate_all):
    kube = Cluster.new("kube", preamble_cmds=["source /venv/bin/activate"], shell="/bin/bash")
    exp = kube.new_experiment("pre", preamble_cmds=["cd /app"])
    exp.new_process("a", ["python a.py"], container_image=IMAGE)
    plan = kube.plan(exp)
    validate_all(plan.objects)
    script = "\n".join(guarded_preamble(["source /venv/bin/activate", "cd /app"]) + ["python a.py"])
    assert container(plan, "a")["command"] == ["/bin/bash", "-c", script.replace("$", "$$")]


def test_args_without_command_cannot_have_a_preamble(kube):
    exp = kube.new_experiment("bad", preamble_cmds=["export A=1"])
    exp.new_process("entry", container_image=IMAGE, args=["--flag"])
    with pytest.raises(SpecError, match="entry.*give command= as well"):
        kube.plan(exp)


def test_a_process_without_image_is_a_clear_error_before_anything_is_printed(kube, capsys):
    exp = kube.new_experiment("noimage")
    exp.new_process("a", command="python")
    with pytest.raises(SpecError, match="process 'a' has no container image: give container_image="):
        kube.launch(exp, dry_run=True)
    assert capsys.readouterr().out == ""


def test_process_group_is_one_pod_with_a_container_per_process(kube, validate_all):
    exp = kube.new_experiment("grp")
    group = exp.new_process_group("nonagent")
    learner = group.new_process("learner", container_image=IMAGE, command="python", args=["learner.py"])
    replay = group.new_process("replay", container_image=IMAGE, command="python", args=["replay.py"])
    replay.binds(["collector", "sampler"])
    learner.binds("prefetch")
    learner.connects("sampler")
    agent = exp.new_process("agent-0", container_image=IMAGE, command="python", args=["agent.py"])
    agent.connects("collector")
    plan = kube.plan(exp)
    validate_all(plan.objects)

    pods = by_kind(plan, "Pod")
    assert list(pods) == ["agent-0", "nonagent"]
    assert [c["name"] for c in pods["nonagent"]["spec"]["containers"]] == ["learner", "replay"]
    assert pods["nonagent"]["metadata"]["labels"]["symphony/group"] == "nonagent"
    assert "symphony/group" not in pods["agent-0"]["metadata"]["labels"]
    assert env_of(container(plan, "nonagent", "replay"))["SYMPH_PROCESS"] == "nonagent/replay"
    for svc in ("collector", "sampler", "prefetch"):
        assert by_kind(plan, "Service")[svc]["spec"]["selector"]["symphony/pod"] == "nonagent"
    container_ports = [p["containerPort"] for c in pods["nonagent"]["spec"]["containers"] for p in c["ports"]]
    assert len(container_ports) == len(set(container_ports)) == 3


def test_pod_level_call_on_a_process_in_a_group_names_the_group(kube):
    exp = kube.new_experiment("grp")
    group = exp.new_process_group("nonagent")
    learner = group.new_process("learner", container_image=IMAGE, command="python")
    for call in (lambda: learner.node_selector("a", "b"), lambda: learner.add_toleration(key="k"),
                 lambda: learner.restart_policy("Always"), lambda: learner.add_label("a", "b"),
                 lambda: learner.image_pull_secret("regcred")):
        with pytest.raises(PodLevelSettingError, match="process group 'nonagent'.*call it on the group"):
            call()


def test_resources_translate_to_requests_and_limits_with_gpu_as_nvidia(kube, validate_all):
    exp = kube.new_experiment("res")
    learner = exp.new_process("learner", container_image=IMAGE, command="python")
    learner.resource_request(cpu=1.5, mem="2G")
    learner.resource_limit(cpu="1500m", memory="4Gi", gpu=1)
    gpu_only_request = exp.new_process("req", container_image=IMAGE, command="python")
    gpu_only_request.resource_request(gpu=2)
    group = exp.new_process_group("g")
    group.resource_request(cpu=1, mem="1G")
    group.new_process("a", container_image=IMAGE, command="python")
    group.new_process("b", container_image=IMAGE, command="python").resource_request(mem="3G")
    plan = kube.plan(exp)
    validate_all(plan.objects)

    assert container(plan, "learner")["resources"] == {
        "requests": {"cpu": "1.5", "memory": "2G", "nvidia.com/gpu": "1"},  # GPUs: one number, both
        "limits": {"cpu": "1500m", "memory": "4Gi", "nvidia.com/gpu": "1"}}
    assert container(plan, "req")["resources"] == {"requests": {"nvidia.com/gpu": "2"},
                                                    "limits": {"nvidia.com/gpu": "2"}}
    assert container(plan, "g", "a")["resources"] == {"requests": {"cpu": "1", "memory": "1G"}}
    assert container(plan, "g", "b")["resources"] == {"requests": {"cpu": "1", "memory": "3G"}}


def test_unequal_gpu_request_and_limit_and_bad_quantities_are_clear_errors(kube):
    exp = kube.new_experiment("res")
    proc = exp.new_process("p", container_image=IMAGE, command="python")
    with pytest.raises(InvalidQuantityError, match="write '2G'.*or '2Gi'"):
        proc.resource_request(mem="2GB")
    proc.resource_request(gpu=1).resource_limit(gpu=2)
    with pytest.raises(SpecError, match="GPU request and limit equal"):
        kube.plan(exp)


def test_env_precedence_experiment_group_process_then_symph(kube, validate_all):
    exp = kube.new_experiment("env", env={"A": "exp", "B": "exp", "C": "exp"})
    group = exp.new_process_group("g")
    group.set_envs({"B": "group", "C": "group"})
    proc = group.new_process("p", container_image=IMAGE, command="python")
    proc.set_env("C", "process")
    proc.set_env("SYMPH_PROCESS", "mine")  # nothing overrides SYMPH_*
    plan = kube.plan(exp)
    validate_all(plan.objects)
    env = env_of(container(plan, "g", "p"))
    assert (env["A"], env["B"], env["C"], env["SYMPH_PROCESS"]) == ("exp", "group", "process", "g/p")


def test_pull_policy_selector_tolerations_restart_labels_and_pull_secrets(kube, validate_all):
    exp = kube.new_experiment("pod")
    group = exp.new_process_group("nonagent")
    group.image_pull_policy("Always")
    group.node_selector(key="surreal-node", value="nonagent-cpu")
    group.add_toleration(key="surreal", operator="Exists", effect="NoExecute", toleration_seconds=30)
    group.restart_policy("OnFailure")
    group.add_labels(team="rl", tier="learner")
    group.image_pull_secret("regcred")
    group.new_process("a", container_image=IMAGE, command="python")
    group.new_process("b", container_image=IMAGE, command="python").image_pull_policy("IfNotPresent")
    solo = exp.new_process("solo", container_image=IMAGE, command="python")
    solo.add_label("team", "infra").restart_policy("Always")
    plan = kube.plan(exp)
    validate_all(plan.objects)

    pod = by_kind(plan, "Pod")["nonagent"]
    assert [c["imagePullPolicy"] for c in pod["spec"]["containers"]] == ["Always", "IfNotPresent"]
    assert pod["spec"]["nodeSelector"] == {"surreal-node": "nonagent-cpu"}
    assert pod["spec"]["tolerations"] == [{"key": "surreal", "operator": "Exists", "effect": "NoExecute",
                                           "tolerationSeconds": 30}]
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    assert pod["metadata"]["labels"]["team"] == "rl" and pod["metadata"]["labels"]["tier"] == "learner"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    solo_pod = by_kind(plan, "Pod")["solo"]
    assert solo_pod["spec"]["restartPolicy"] == "Always" and solo_pod["metadata"]["labels"]["team"] == "infra"
    assert "imagePullPolicy" not in solo_pod["spec"]["containers"][0]
    assert "nodeSelector" not in solo_pod["spec"] and "tolerations" not in solo_pod["spec"]


def test_reserved_labels_and_namespaces_are_refused(kube):
    exp = kube.new_experiment("labels")
    exp.new_process("p", container_image=IMAGE, command="python").add_label("symphony/pod", "other")
    with pytest.raises(SpecError, match="reserved for Symphony"):
        kube.plan(exp)
    for name in ("default", "kube-system"):
        exp = kube.new_experiment(name)
        exp.new_process("p", container_image=IMAGE, command="python")
        with pytest.raises(SpecError, match="reserved by Kubernetes"):
            kube.plan(exp)


def test_every_kind_of_mount(kube, validate_all):
    exp = kube.new_experiment("mounts")
    group = exp.new_process_group("g")
    a = group.new_process("a", container_image=IMAGE, command="python")
    b = group.new_process("b", container_image=IMAGE, command="python")
    for proc in (a, b):
        proc.mount_nfs(server="nfs.example.com", path="/export", mount_path="/fs")
    a.mount_host_path("/var/data", "/data", read_only=True, type="Directory")
    a.mount_empty_dir("/scratch", size_limit="1Gi")
    a.mount_shared_memory(size_limit="2G")
    b.mount_secret("registry-key", "/keys")
    b.mount_volume({"configMap": {"name": "settings"}}, "/etc/settings", read_only=True)
    plan = kube.plan(exp)
    validate_all(plan.objects)

    pod = by_kind(plan, "Pod")["g"]
    volumes = {v["name"]: {k: x for k, x in v.items() if k != "name"} for v in pod["spec"]["volumes"]}
    assert list(volumes.values()) == [
        {"nfs": {"server": "nfs.example.com", "path": "/export"}},
        {"hostPath": {"path": "/var/data", "type": "Directory"}},
        {"emptyDir": {"sizeLimit": "1Gi"}},
        {"emptyDir": {"sizeLimit": "2G", "medium": "Memory"}},
        {"secret": {"secretName": "registry-key"}},
        {"configMap": {"name": "settings"}},
    ]
    mounts_a = {m["mountPath"]: m for m in container(plan, "g", "a")["volumeMounts"]}
    mounts_b = {m["mountPath"]: m for m in container(plan, "g", "b")["volumeMounts"]}
    assert mounts_a["/fs"]["name"] == mounts_b["/fs"]["name"]  # one NFS volume shared by both containers
    assert mounts_a["/data"]["readOnly"] is True and mounts_a["/fs"]["readOnly"] is False
    assert volumes[mounts_a["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
    assert mounts_b["/keys"]["readOnly"] is True
    assert volumes[mounts_b["/etc/settings"]["name"]] == {"configMap": {"name": "settings"}}


def test_secrets_are_one_secret_mounted_read_only_everywhere_and_never_printed(kube, validate_all, tmp_path,
                                                                               capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".mjkey.txt").write_bytes(b"TOP-SECRET-LICENSE\x00\xff")
    (tmp_path / "token").write_text("hunter2-token")
    exp = kube.new_experiment("foo", secrets=["~/.mjkey.txt", str(tmp_path / "token")])
    exp.new_process("solo", container_image=IMAGE, command="python")
    group = exp.new_process_group("g")
    group.new_process("a", container_image=IMAGE, command="python")
    group.new_process("b", container_image=IMAGE, command="python")
    plan = kube.launch(exp, dry_run=True)
    printed = capsys.readouterr().out
    validate_all(plan.objects)

    secret = by_kind(plan, "Secret")["symphony-secrets"]
    assert base64.b64decode(secret["data"][".mjkey.txt"]) == b"TOP-SECRET-LICENSE\x00\xff"
    assert base64.b64decode(secret["data"]["token"]) == b"hunter2-token"
    for pod in plan.of_kind("Pod"):
        assert {"name": "symphony-secrets", "secret": {"secretName": "symphony-secrets"}} in pod["spec"]["volumes"]
        for c in pod["spec"]["containers"]:
            assert {"name": "symphony-secrets", "mountPath": "/etc/secrets", "readOnly": True} in c["volumeMounts"]
    for leaked in ("TOP-SECRET", "hunter2", secret["data"][".mjkey.txt"], secret["data"]["token"]):
        assert leaked not in printed
    printed_secret = next(doc for doc in yaml.safe_load_all(printed) if doc and doc["kind"] == "Secret")
    assert printed_secret["data"] == {".mjkey.txt": "<redacted>", "token": "<redacted>"}
    assert "# Secret values redacted (keys only)" in printed


def test_unreadable_or_clashing_secret_files_are_errors_at_plan_time(kube, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "key").write_text("1")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "key").write_text("2")
    cases = [([str(tmp_path / "missing.txt")], "secret file .*missing.txt' cannot be read .*No such file"),
             ([str(tmp_path / "a")], "is a directory: list the files in it"),
             ([str(tmp_path / "a" / "key"), str(tmp_path / "b" / "key")], "same file name 'key'")]
    for secrets, message in cases:
        exp = kube.new_experiment("sec", secrets=secrets)
        exp.new_process("p", container_image=IMAGE, command="python")
        with pytest.raises(SpecError, match=message):
            kube.launch(exp, dry_run=True)
    exp = kube.new_experiment("sec", secrets=[str(tmp_path / "a" / "key")])
    exp.new_process("p", container_image=IMAGE, command="python").mount_empty_dir("/etc/secrets")
    with pytest.raises(SpecError, match="mounts something at /etc/secrets"):
        kube.plan(exp)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_secret_without_read_permission_is_an_error(kube, tmp_path):
    path = tmp_path / "key"
    path.write_text("x")
    path.chmod(0)
    exp = kube.new_experiment("sec", secrets=[str(path)])
    exp.new_process("p", container_image=IMAGE, command="python")
    with pytest.raises(SpecError, match="cannot be read .*Permission denied"):
        kube.plan(exp)


def test_pod_yml_and_container_yml_are_live_and_deep_merged(kube, validate_all):
    exp = kube.new_experiment("yml")
    solo = exp.new_process("solo", container_image=IMAGE, command="python")
    group = exp.new_process_group("g")
    a = group.new_process("a", container_image=IMAGE, command="python")
    group.new_process("b", container_image=IMAGE, command="python")
    a.set_env("KEEP", "1").set_env("CHANGE", "old")
    a.resource_request(cpu=1)
    # edits made after declaration, directly on the dicts
    solo.pod_yml["spec"] = {"hostNetwork": True, "enableServiceLinks": None}
    solo.pod_yml.setdefault("metadata", {})["annotations"] = {"team": "rl"}
    solo.container_yml["securityContext"] = {"privileged": True}
    group.container_yml["stdin"] = True
    a.container_yml.update({"env": [{"name": "CHANGE", "value": "new"}, {"name": "ADDED", "value": "2"}],
                            "resources": {"limits": {"memory": "1Gi"}}})
    group.pod_yml["spec"] = {"containers": [{"name": "b", "tty": True}], "priorityClassName": "high"}
    plan = kube.plan(exp)
    validate_all(plan.objects)

    solo_pod = by_kind(plan, "Pod")["solo"]
    assert solo_pod["spec"]["hostNetwork"] is True and "enableServiceLinks" not in solo_pod["spec"]
    assert solo_pod["metadata"]["annotations"] == {"symphony/order": "0", "team": "rl"}
    assert solo_pod["spec"]["containers"][0]["securityContext"] == {"privileged": True}
    env = env_of(container(plan, "g", "a"))
    assert (env["KEEP"], env["CHANGE"], env["ADDED"]) == ("1", "new", "2")
    assert container(plan, "g", "a")["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}
    assert container(plan, "g", "a")["stdin"] is True and container(plan, "g", "b")["stdin"] is True
    assert container(plan, "g", "b")["tty"] is True and "tty" not in container(plan, "g", "a")
    assert by_kind(plan, "Pod")["g"]["spec"]["priorityClassName"] == "high"
    solo.pod_yml["spec"]["hostNetwork"] = False  # still live: the next plan sees it
    assert by_kind(kube.plan(exp), "Pod")["solo"]["spec"]["hostNetwork"] is False


def test_deep_merge_rules():
    base = {"a": {"b": 1, "c": [1, 2]}, "items": [{"name": "x", "v": 1}], "gone": 1}
    deep_merge(base, {"a": {"c": [3]}, "items": [{"name": "x", "w": 2}, {"name": "y"}], "gone": None, "new": {}})
    assert base == {"a": {"b": 1, "c": [3]}, "items": [{"name": "x", "v": 1, "w": 2}, {"name": "y"}], "new": {}}


def test_render_with_secrets_is_exactly_the_objects_apply_sends(kube, tmp_path):
    (tmp_path / "key").write_text("k")
    exp = kube.new_experiment("same", secrets=[str(tmp_path / "key")])
    exp.new_process("p", ["echo 'quoted: \"x\"'", "echo $A"], container_image=IMAGE).binds("svc")
    plan = kube.plan(exp)
    documents = list(yaml.safe_load_all(plan.render(show_secrets=True)))
    assert documents == plan.objects


# Strings PyYAML leaves bare but YAML 1.1 (kubectl's Go reader) takes for booleans, numbers or null.
YAML_11_LOOKALIKES = ["y", "n", "Y", "yes", "on", "Off", "true", "null", "~", "5e-2", "1e-3", "1E9", "0o17",
                      "0x1F", "1_000", "012", "+1", ".inf", "1:20", "2024-01-01", "NaN", "Inf", "", " padded "]


class Yaml11Loader(yaml.SafeLoader):
    """PyYAML's loader plus the YAML 1.1 forms it lacks and Go's YAML reads: y/n booleans,
    exponents without a dot, 0o octals."""


Yaml11Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))
Yaml11Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"),
                                   list("-+0123456789"))
Yaml11Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^0o[0-7]+$"), ["0"])


def _lookalike_experiment(kube, tmp_path):
    (tmp_path / "on").write_text("secret file whose name is a YAML 1.1 boolean")
    exp = kube.new_experiment("lookalikes", secrets=[str(tmp_path / "on")])
    process = exp.new_process("p", container_image=IMAGE, command="prog", args=YAML_11_LOOKALIKES,
                              env={f"V{i}": value for i, value in enumerate(YAML_11_LOOKALIKES)})
    process.node_selector("gpu", "true").add_label("enabled", "yes")
    return kube.plan(exp)


def test_dry_run_yaml_means_the_same_objects_to_a_yaml_1_1_reader(kube, tmp_path):
    plan = _lookalike_experiment(kube, tmp_path)
    text = plan.render(show_secrets=True)
    assert list(yaml.load_all(text, Loader=Yaml11Loader)) == plan.objects
    assert "- \"y\"\n" in text and "gpu: \"true\"" in text and "\"on\": " in text
    assert "image: python:3.11-slim" not in text  # anything a reader could misread is quoted...
    assert "kind: Pod\n" in text and "name: p\n" in text  # ...plain words stay readable


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_reads_the_dry_run_yaml_as_exactly_the_planned_objects(kube, tmp_path):
    """``kubectl label --local`` parses manifests with kubectl's own YAML reader and prints
    them as JSON without contacting a cluster (``create --dry-run=client`` needs one)."""
    plan = _lookalike_experiment(kube, tmp_path)
    result = subprocess.run(["kubectl", "label", "--local", "-f", "-", "-o", "json", "symphony-unused-"],
                            input=plan.render(show_secrets=True), capture_output=True, text=True, timeout=60,
                            env={**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig")})
    assert result.returncode == 0, result.stderr
    decoder, text, objects = json.JSONDecoder(), result.stdout.strip(), []
    while text:
        obj, end = decoder.raw_decode(text)
        objects.append(obj)
        text = text[end:].strip()
    assert objects == plan.objects


def test_repr_of_a_plan_shows_counts_never_secret_contents(kube, tmp_path):
    (tmp_path / "token").write_text("hunter2-token")
    exp = kube.new_experiment("rep", secrets=[str(tmp_path / "token")])
    exp.new_process("a", container_image=IMAGE, command="python").binds("svc")
    exp.new_process("b", container_image=IMAGE, command="python")
    plan = kube.plan(exp)
    encoded = by_kind(plan, "Secret")["symphony-secrets"]["data"]["token"]
    for text in (repr(plan), str(plan), repr([plan])):
        assert "hunter2" not in text and encoded not in text
    assert repr(plan) == "KubePlan('rep': 1 Namespace, 1 Secret, 1 Service, 2 Pod)"


def test_pod_settings_written_directly_on_a_group_member_are_refused_naming_the_group(kube):
    """The methods refuse pod-level calls on a group member; the dicts behind them can still be
    filled directly, and the group's pod would silently lack what was asked for."""
    for setting, value in (("pod_yml", {"spec": {"priorityClassName": "high"}}), ("labels", {"team": "rl"}),
                           ("node_selectors", {"gpu": "a100"}), ("tolerations", [{"key": "k"}]),
                           ("image_pull_secrets", ["regcred"])):
        exp = kube.new_experiment("grp")
        group = exp.new_process_group("nonagent")
        learner = group.new_process("learner", container_image=IMAGE, command="python")
        setattr(learner, setting, value)
        with pytest.raises(PodLevelSettingError,
                           match=f"{setting} is set on process 'nonagent/learner'.*process group 'nonagent'.*"
                                 f"set it on the group"):
            kube.plan(exp)


def test_grace_sets_termination_grace_period(validate_all):
    kube = Cluster.new("kube", grace=2)
    exp = kube.new_experiment("grace")
    exp.new_process("p", container_image=IMAGE, command="python")
    plan = kube.plan(exp)
    validate_all(plan.objects)
    assert plan.of_kind("Pod")[0]["spec"]["terminationGracePeriodSeconds"] == 2
    with pytest.raises(SpecError, match="grace must be a number"):
        Cluster.new("kube", grace="soon")


def test_planning_needs_no_cluster_but_contacting_one_without_config_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kube = Cluster.new("kube")
    exp = kube.new_experiment("offline")
    exp.new_process("p", container_image=IMAGE, command="python")
    assert kube.plan(exp).of_kind("Pod")
    with pytest.raises(BackendUnavailableError, match="point KUBECONFIG at a kubeconfig"):
        kube.list_experiments()


@pytest.mark.parametrize("declare, message", [
    (lambda p: p.add_label("team", "rl team"), "label value 'rl team' of 'team' on 'p' is invalid"),
    (lambda p: p.add_label("-bad", "x"), "label key '-bad' on 'p' is invalid"),
    (lambda p: p.node_selector("surreal-node", "agent/cpu"), "node_selector value 'agent/cpu'"),
    (lambda p: p.add_toleration(key="k", operator="Exist"), "operator 'Exist' on 'p' is invalid: use Exists or Equal"),
    (lambda p: p.add_toleration(key="k", operator="Exists", effect="NoExec"), "effect 'NoExec'.*NoExecute"),
    (lambda p: p.add_toleration(key="k", operator="Exists", value="v"), "drop value= or use operator='Equal'"),
])
def test_labels_selectors_and_tolerations_the_api_would_refuse_fail_at_plan_time(kube, declare, message):
    exp = kube.new_experiment("checks")
    declare(exp.new_process("p", container_image=IMAGE, command="python"))
    with pytest.raises(SpecError, match=message):
        kube.plan(exp)


def test_valid_prefixed_labels_pass(kube, validate_all):
    exp = kube.new_experiment("checks")
    proc = exp.new_process("p", container_image=IMAGE, command="python")
    proc.add_label("example.com/team", "rl_team.v1").node_selector("cloud.google.com/gke-nodepool", "pool-1")
    validate_all(kube.plan(exp).objects)
