"""The original Kubernetes material without a cluster: examples/zmq/run_kube.py as written, run against
the fake API server (only the image repository is changed), and the guide's GKEDispatcher section,
whose manifests are validated against the Kubernetes schemas."""

import json
import os
import sys

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TESTS, "kube"))
from fake_apiserver import FakeApiServer  # noqa: E402

pytestmark = pytest.mark.kube

UPSTREAM_URL = "registry.example/symphony-demo-zmq"  # settings.py: the user's own repository


# --- examples/zmq/run_kube.py, as written (its `settings` import is the constant above) ---
from symphony.engine import Cluster  # noqa: E402
from symphony.kube import KubeCluster  # noqa: E402,F401
from symphony.commandline import SymphonyParser  # noqa: E402


class KubeParser(SymphonyParser):
    def create_cluster(self): # step 1
        return Cluster.new('kube')

    def setup(self): # step 2
        super().setup()
        parser = self.add_subparser('create')
        parser.add_argument('experiment_name', type=str)
        # add subcommand: `python run_kube.py create`
        # This subcommand is mapped to self.action_create(args)

    def action_create(self, args):
        cluster = self.cluster
        exp = cluster.new_experiment(args.experiment_name)
        client = exp.new_process(
            'client',
            container_image=UPSTREAM_URL+':latest',
            command=['python'],
            args=['-u', '/simple_client.py']
        )
        server = exp.new_process(
            'server',
            container_image=UPSTREAM_URL+':latest',
            command=['python'],
            args=['-u', '/simple_server.py']
        )
        # Good to have when you are doing development
        client.image_pull_policy('Always')
        server.image_pull_policy('Always')

        server.binds('example')
        client.connects('example')
        cluster.launch(exp)
# --- end of the example ---


@pytest.fixture
def api(tmp_path, monkeypatch):
    server = FakeApiServer()
    monkeypatch.setenv("KUBECONFIG", server.kubeconfig(tmp_path / "kubeconfig"))
    yield server
    server.close()


def test_run_kube_create_lsp_delete(api, capsys):
    parser = KubeParser()  # (one command per process for its users: here one parser runs the three)
    assert parser.main(["create", "zmq_demo"]) == 0
    assert "note: experiment name 'zmq_demo' becomes 'zmq-demo'" in capsys.readouterr().err
    pods = api.objects[("zmq-demo", "pods")]
    client = pods["client"]["spec"]["containers"][0]
    assert client["image"] == UPSTREAM_URL + ":latest" and client["imagePullPolicy"] == "Always"
    assert client["command"] == ["python"] and client["args"] == ["-u", "/simple_client.py"]
    env = {e["name"]: e.get("value") for e in client["env"]}
    assert env["SYMPH_EXAMPLE_HOST"] == "example" and env["SYMPH_EXAMPLE_PORT"].isdigit()
    assert parser.main(["lsp", "zmq-demo"]) == 0
    assert {"client", "server"} <= set(capsys.readouterr().out.split())
    assert parser.main(["delete", "zmq-demo", "-f"]) == 0
    assert "zmq-demo" not in api.namespaces or api.namespaces["zmq-demo"].get("status", {}).get("phase") == "Terminating"


#: a node-pool file as Cloudwise writes it (the parts the dispatcher reads)
TF_JSON = {"resource": {"google_container_node_pool": {
    "cpu-pool": {"node_config": {"labels": {"name": "cpu-pool", "cpu": 8, "memory_m": 30000},
                                 "taint": [{"key": "surreal", "value": "true", "effect": "NO_EXECUTE"}]}},
    "gpu-pool": {"node_config": {"labels": {"name": "gpu-pool", "cpu": 16, "memory_m": 60000, "gpu_count": 4,
                                            "gpu_type": "k80"}}},
}}}


def test_gke_dispatcher_places_processes_on_node_pools(tmp_path):
    from kubernetes_validate import validate
    (tmp_path / "cluster.tf.json").write_text(json.dumps(TF_JSON))
    from symphony import GKEDispatcher
    dispatcher = GKEDispatcher(str(tmp_path / "cluster.tf.json"))
    assert dispatcher.get_node_pools() == ["cpu-pool", "gpu-pool"]
    cluster = Cluster.new("kube")
    exp = cluster.new_experiment("rl")
    agent = exp.new_process("agent", container_image="python:3.11", command="python", args=["agent.py"])
    group = exp.new_process_group("nonagent")
    learner = group.new_process("learner", container_image="python:3.11", command="python", args=["learner.py"])
    evaluator = exp.new_process("eval", container_image="python:3.11", command="python", args=["eval.py"])
    # Occupies 1/5 of a machine in the CPU pool
    dispatcher.assign_to_machine(agent, node_pool_name='cpu-pool', process_per_machine=5)
    # Occupies a GPU and claim other resources proportionally
    dispatcher.assign_to_gpu(learner, node_pool_name='gpu-pool', process_group=group)
    dispatcher.assign_to(evaluator, assign_to="resource", cpu=2.5, memory_m=4096, gpu_count=None)
    pods = {o["metadata"]["name"]: o for o in cluster.plan(exp).objects if o["kind"] == "Pod"}
    for pod in pods.values():
        validate(pod, "1.25", strict=True)
    agent_pod = pods["agent"]["spec"]
    assert agent_pod["nodeSelector"] == {"name": "cpu-pool"}
    assert agent_pod["tolerations"] == [{"key": "surreal", "operator": "Equal", "value": "true", "effect": "NoExecute"}]
    assert agent_pod["containers"][0]["resources"]["requests"] == {"cpu": "1.48", "memory": "5000Mi"}
    nonagent = pods["nonagent"]["spec"]
    assert nonagent["nodeSelector"] == {"name": "gpu-pool"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in nonagent["tolerations"]
    assert nonagent["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pods["eval"]["spec"]["nodeSelector"] == {"name": "cpu-pool"}  # the first pool without GPUs that fits


def test_gke_dispatcher_mistakes_are_one_line():
    from symphony import GKEDispatcher
    from symphony.errors import SpecError
    dispatcher = GKEDispatcher(TF_JSON)
    exp = Cluster.new("kube").new_experiment("x")
    p = exp.new_process("p", container_image="python:3.11", command="python")
    with pytest.raises(SpecError, match=r"^no node pool 'nope' in this cluster: it has cpu-pool, gpu-pool$"):
        dispatcher.assign_to_machine(p, node_pool_name="nope")
    with pytest.raises(SpecError, match="node pool 'cpu-pool' has no GPUs: assign to a GPU pool"):
        dispatcher.assign_to_gpu(p, node_pool_name="cpu-pool")
    with pytest.raises(SpecError, match="has no resource/google_container_node_pool"):
        GKEDispatcher({"resource": {}})
