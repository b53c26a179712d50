"""Build on launch for Kubernetes: built once, tagged <repo>:<experiment>, pushed, then pods use it.

The plan part needs nothing. The launch part uses the real Docker engine and local
registry from .ci/docker-up, and the fake API server (no Kubernetes cluster runs here).
"""

import json
import os
import sys
import urllib.request

import pytest

from symphony import Cluster
from symphony.errors import SpecError

from fake_apiserver import FakeApiServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "docker"))
from dockerhelpers import BASE_IMAGE, engine, registry_address, unique  # noqa: E402


def build_settings(tmp_path):
    source = tmp_path / "code"
    source.mkdir()
    (source / "main.py").write_text("print('built on launch')\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {BASE_IMAGE}\nCOPY code /app/code\n")
    return [{"name": "cpu-image", "temp_directory": str(tmp_path / "temp"), "dockerfile": str(dockerfile),
             "verbose": False, "context_directories": [{"name": "code", "path": str(source), "force_update": True}]}]


def experiment(cluster, repo, name):
    exp = cluster.new_experiment(name)
    for i in range(2):
        exp.new_process(f"agent-{i}", container_image=repo, build_image="cpu-image",
                        command="python3", args=["/app/code/main.py"])
    exp.new_process("plain", container_image="busybox:1", command="true")
    return exp


def pod_images(objects):
    return {obj["metadata"]["name"]: obj["spec"]["containers"][0]["image"] for obj in objects if obj["kind"] == "Pod"}


def test_plan_shows_the_tags_and_what_would_be_built(tmp_path):
    cluster = Cluster.new("kube", build_settings=build_settings(tmp_path))
    plan = cluster.plan(experiment(cluster, "registry.example/agent", "exp-1"))
    assert pod_images(plan.objects) == {"agent-0": "registry.example/agent:exp-1",
                                        "agent-1": "registry.example/agent:exp-1", "plain": "busybox:1"}
    assert "# build 'cpu-image' from " in plan.render()
    assert "registry.example/agent:exp-1 (used by agent-0, agent-1)" in plan.render()
    assert not (tmp_path / "temp").exists(), "planning builds nothing"


def test_unknown_build_setting_is_an_error_before_anything(tmp_path):
    cluster = Cluster.new("kube", build_settings=build_settings(tmp_path))
    exp = cluster.new_experiment("exp-2")
    exp.new_process("a", container_image="r/a", build_image="gpu-image", command="true")
    with pytest.raises(SpecError, match="no docker build setting is named 'gpu-image'"):
        cluster.plan(exp)


def test_launch_builds_once_pushes_and_the_pods_run_the_pushed_tag(tmp_path):
    client, reason = engine()
    if client is None:
        pytest.skip(reason)
    registry = registry_address()
    if not registry:
        pytest.skip("no local registry: run .ci/docker-up")
    api = FakeApiServer()
    repo = f"{registry}/{unique('symph-kube-build')}"
    try:
        cluster = Cluster.new("kube", kubeconfig=api.kubeconfig(tmp_path / "kubeconfig"), timeout=10,
                              build_settings=build_settings(tmp_path))
        cluster.poll_interval = 0.02
        name = unique("kb")
        cluster.launch(experiment(cluster, repo, name))
        sent = pod_images(api.created())
        assert sent["agent-0"] == sent["agent-1"] == f"{repo}:{name}"
        with urllib.request.urlopen(f"http://{registry}/v2/{repo.split('/', 1)[1]}/tags/list", timeout=10) as reply:
            assert json.load(reply)["tags"] == [name]
        built = client.images.get(f"{repo}:{name}")
        assert len([t for t in built.tags if t.startswith(repo)]) == 1, "one build, one tag"
    finally:
        api.close()
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith(repo + ":"):
                    client.images.remove(tag, force=True)
