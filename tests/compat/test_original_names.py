"""Every name the original ``symphony`` package exported exists, at its original import paths, and is
the real thing (a backend's class, the model's class, a working helper), while importing
``symphony`` still loads none of them."""

import json
import subprocess
import sys

import pytest

import symphony
from conftest import REPO

#: the original package's exports, as its ``symphony/__init__.py`` listed them
ORIGINAL_EXPORTS = ["Cluster", "SymphonyConfig", "AddressBook", "KubeCluster", "GKEDispatcher", "KubeProcessSpec",
                    "KubeProcessGroupSpec", "KubeExperimentSpec", "TmuxCluster", "TmuxProcessSpec",
                    "TmuxProcessGroupSpec", "TmuxExperimentSpec", "SubprocCluster", "SubprocManager",
                    "SubprocProcessSpec", "SubprocProcessGroupSpec", "ProcessSpec", "ProcessGroupSpec",
                    "ExperimentSpec", "DockerCluster", "DockerBuilder", "clean_images", "SymphonyParser"]


def test_importing_symphony_loads_no_backend_and_no_model_until_a_name_is_used():
    code = ("import json, sys, symphony\nprint(json.dumps(sorted(sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                                       check=True).stdout)
    assert not [m for m in loaded if m.startswith(("symphony.kube", "symphony.docker", "symphony.tmux",
                                                   "symphony.local", "symphony.compat", "symphony.spec.model"))]


@pytest.mark.parametrize("name", ORIGINAL_EXPORTS)
def test_every_original_export_is_there(name):
    assert getattr(symphony, name) is not None
    assert name in symphony.__all__


def test_the_backend_classes_are_what_cluster_new_builds():
    from symphony import Cluster, DockerCluster, KubeCluster, SubprocCluster, TmuxCluster
    assert isinstance(Cluster.new("kubernetes"), KubeCluster)
    assert isinstance(Cluster.new("tmux"), TmuxCluster)
    assert DockerCluster.backend_name == "docker"
    assert isinstance(Cluster.new("subproc", stdout_mode="print"), SubprocCluster)


def test_the_per_backend_spec_classes_are_the_one_model():
    from symphony import (KubeExperimentSpec, KubeProcessGroupSpec, KubeProcessSpec, TmuxExperimentSpec,
                          TmuxProcessSpec, Cluster)
    exp = Cluster.new("kubernetes").new_experiment("rl")  # "exp is a KubeExperimentSpec"
    assert isinstance(exp, KubeExperimentSpec) and isinstance(exp, TmuxExperimentSpec)
    group = exp.new_process_group("g")
    assert isinstance(group, KubeProcessGroupSpec)
    assert isinstance(group.new_process("a", ["true"]), KubeProcessSpec)
    assert isinstance(exp.new_process("b", ["true"]), TmuxProcessSpec)


def test_original_import_paths():
    from symphony.addons import DockerBuilder, clean_images  # noqa: F401
    from symphony.commandline import SymphonyParser  # noqa: F401
    from symphony.engine import AddressBook, Cluster, SymphonyConfig  # noqa: F401
    from symphony.subproc import SubprocCluster, SubprocManager, SubprocProcessSpec  # noqa: F401
    assert SubprocProcessSpec is symphony.ProcessSpec


def test_address_book_built_by_hand_gives_the_variables_every_process_gets():
    from symphony.engine import AddressBook
    book = AddressBook()
    book.add_entry("replay-server", "10.0.0.2", 7001)
    assert book.dump() == {"SYMPH_REPLAY_SERVER_HOST": "10.0.0.2", "SYMPH_REPLAY_SERVER_PORT": "7001",
                           "SYMPH_REPLAY_SERVER_ADDR": "10.0.0.2:7001"}
    assert AddressBook(book.entries).dump() == book.dump()
    assert book.format_name("replay-server") == "REPLAY_SERVER"


def test_the_kubernetes_paths_of_the_original_names():
    """``from symphony.kube import GKEDispatcher, KubeExperimentSpec`` as the original's guide wrote it."""
    import symphony
    from symphony.kube import GKEDispatcher, KubeExperimentSpec, KubeProcessGroupSpec, KubeProcessSpec
    from symphony.compat.gke import GKEDispatcher as dispatcher
    assert GKEDispatcher is dispatcher
    assert (KubeExperimentSpec, KubeProcessGroupSpec, KubeProcessSpec) == (
        symphony.ExperimentSpec, symphony.ProcessGroupSpec, symphony.ProcessSpec)


def test_the_docker_paths_of_the_original_spec_names():
    import symphony
    from symphony.docker import DockerExperimentSpec, DockerProcessGroupSpec, DockerProcessSpec
    assert (DockerExperimentSpec, DockerProcessGroupSpec, DockerProcessSpec) == (
        symphony.ExperimentSpec, symphony.ProcessGroupSpec, symphony.ProcessSpec)


def test_the_tmux_paths_of_the_original_spec_names():
    import symphony
    from symphony.tmux import TmuxExperimentSpec, TmuxProcessGroupSpec, TmuxProcessSpec
    assert (TmuxExperimentSpec, TmuxProcessGroupSpec, TmuxProcessSpec) == (
        symphony.ExperimentSpec, symphony.ProcessGroupSpec, symphony.ProcessSpec)
