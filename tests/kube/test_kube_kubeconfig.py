"""Which cluster a ``KubeCluster`` talks to: ``KUBECONFIG`` as it is when the cluster is made
(kubectl's rule; the client alone reads it once, at import), several files merged as kubectl
merges them. Two fake API servers stand for two clusters."""

import os
import pathlib

import pytest

from symphony import Cluster
from symphony.errors import BackendUnavailableError

from fake_apiserver import FakeApiServer


@pytest.fixture
def servers():
    made = {name: FakeApiServer() for name in ("one", "two")}
    yield made
    for server in made.values():
        server.close()


@pytest.fixture
def configs(servers, tmp_path):
    return {name: server.kubeconfig(tmp_path / f"{name}.kubeconfig", name=name) for name, server in servers.items()}


def reached(servers):
    """Names of the servers that received a request (and forget the requests)."""
    names = sorted(name for name, server in servers.items() if server.requests)
    for server in servers.values():
        server.requests.clear()
    return names


def test_a_cluster_made_after_kubeconfig_changed_uses_the_new_file(servers, configs, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", configs["one"])
    import kubernetes.config  # noqa: F401 (the client has read KUBECONFIG now, once)
    before = Cluster.new("kube")
    assert before.list_experiments() == [] and reached(servers) == ["one"]

    monkeypatch.setenv("KUBECONFIG", configs["two"])
    assert Cluster.new("kube").list_experiments() == [] and reached(servers) == ["two"]
    assert before.list_experiments() == [] and reached(servers) == ["one"]  # a cluster keeps its own

    monkeypatch.delenv("KUBECONFIG")  # kubectl's default then: ~/.kube/config (HOME is the test's own)
    default = pathlib.Path(os.path.expanduser("~/.kube/config"))
    default.parent.mkdir()
    servers["two"].kubeconfig(default, name="home")
    assert Cluster.new("kube").list_experiments() == [] and reached(servers) == ["two"]


def test_several_files_merge_as_kubectl_merges_them(servers, configs, tmp_path, monkeypatch):
    missing = str(tmp_path / "missing.kubeconfig")
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([missing, configs["two"], configs["one"]]))
    Cluster.new("kube").list_experiments()
    assert reached(servers) == ["two"]  # the first existing file's current context wins
    Cluster.new("kube", context="one").list_experiments()
    assert reached(servers) == ["one"]  # a context of a later file

    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([configs["one"], configs["two"]]))
    Cluster.new("kube").list_experiments()
    assert reached(servers) == ["one"]

    no_current = servers["two"].kubeconfig(tmp_path / "no-current.kubeconfig", name="other", current=False)
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([no_current, configs["one"]]))
    Cluster.new("kube").list_experiments()
    assert reached(servers) == ["one"]
    Cluster.new("kube", context="other").list_experiments()
    assert reached(servers) == ["two"]


def test_kubeconfig_naming_no_existing_file_is_one_line(tmp_path, monkeypatch):
    listed = [str(tmp_path / "a"), str(tmp_path / "b")]
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join(listed))
    with pytest.raises(BackendUnavailableError, match=rf"^no usable Kubernetes configuration \(no kubeconfig file "
                                                      rf"at {listed[0]}, {listed[1]}\): point KUBECONFIG at"):
        Cluster.new("kube").list_experiments()


def test_kubectl_talks_to_the_cluster_the_client_talks_to(configs, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text("#!/bin/sh\necho \"$KUBECONFIG\"\n")
    (bin_dir / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    kubectl = str(bin_dir / "kubectl")

    monkeypatch.setenv("KUBECONFIG", configs["one"])
    one = Cluster.new("kube")
    assert one.kubectl_command("get", "pods") == [kubectl, "get", "pods"]  # kubectl reads the same KUBECONFIG
    monkeypatch.setenv("KUBECONFIG", configs["two"])
    assert one.kubectl_command("get", "pods") == ["env", f"KUBECONFIG={configs['one']}", kubectl, "get", "pods"]
    assert Cluster.new("kube").kubectl_command("get", "pods") == [kubectl, "get", "pods"]
    monkeypatch.delenv("KUBECONFIG")
    assert one.kubectl_command("version") == ["env", f"KUBECONFIG={configs['one']}", kubectl, "version"]
    unset = Cluster.new("kube")
    monkeypatch.setenv("KUBECONFIG", configs["two"])
    assert unset.kubectl_command("version") == ["env", "-u", "KUBECONFIG", kubectl, "version"]
    explicit = Cluster.new("kube", kubeconfig=configs["one"])
    assert explicit.kubectl_command("version") == [kubectl, "--kubeconfig", configs["one"], "version"]
