"""Apply, query and delete with the real ``kubernetes`` client against a fake API server.

See fake_apiserver.py for why (no cluster can run here) and what it keeps faithful.
"""

import datetime
import os
import time

import pytest
import yaml

from symphony import Cluster
from symphony.errors import (ExperimentExistsError, ExperimentNotFoundError, LaunchError,
                             ProcessNotFoundError, SymphonyError)


IMAGE = "python:3.11-slim"


@pytest.fixture
def kube(api_cluster):
    return api_cluster


def experiment(kube, name="exp", agents=3, secrets=None):
    exp = kube.new_experiment(name, secrets=secrets)
    group = exp.new_process_group("nonagent")
    learner = group.new_process("learner", container_image=IMAGE, command="python", args=["learner.py"])
    replay = group.new_process("replay", container_image=IMAGE, command="python", args=["replay.py"])
    replay.binds("replay-server")
    learner.exposes({"tensorboard": 6006})
    for i in range(agents):
        exp.new_process(f"agent-{i}", container_image=IMAGE, command="python", args=["agent.py"]).connects("replay-server")
    return exp


def test_launch_sends_exactly_the_planned_objects_in_dependency_order(kube, api, tmp_path):
    (tmp_path / "key").write_text("secret-bytes")
    exp = experiment(kube, secrets=[str(tmp_path / "key")])
    plan = kube.launch(exp)

    sent = api.created()
    def by_identity(objects):
        return {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}
    assert len(sent) == len(plan.objects) and by_identity(sent) == by_identity(plan.objects)
    assert list(yaml.safe_load_all(plan.render(show_secrets=True))) == plan.objects
    kinds = [obj["kind"] for obj in sent]
    assert kinds[0] == "Namespace"
    assert max(i for i, k in enumerate(kinds) if k in ("Secret", "Service")) < kinds.index("Pod")
    assert set(api.stored("exp", "pods")) == {"agent-0", "agent-1", "agent-2", "nonagent"}
    assert kube.list_experiments() == ["exp"]
    assert kube.current_experiment() == "exp"


def test_pods_wait_for_the_namespace_default_service_account(api, kube):
    api.service_account_reads = 4
    kube.launch(experiment(kube))
    paths = [(method, path) for method, path, _, _, status in api.requests]
    last_account_read = max(i for i, (_, p) in enumerate(paths) if p.endswith("/serviceaccounts/default"))
    first_pod = min(i for i, (m, p) in enumerate(paths) if m == "POST" and p.endswith("/pods"))
    assert last_account_read < first_pod
    assert not [r for r in api.requests if r[4] == 403]


def test_independent_objects_are_created_concurrently(api, kube):
    api.post_delay = 0.05
    kube.launch(experiment(kube, agents=12))
    assert api.max_in_flight > 1


def test_a_running_experiment_is_refused_and_force_replaces_it_after_it_is_gone(api, kube):
    kube.launch(experiment(kube))
    with pytest.raises(ExperimentExistsError, match="already running.*force=True"):
        kube.launch(experiment(kube))
    api.requests.clear()
    kube.launch(experiment(kube, agents=1), force=True)
    sequence = [(m, p, s) for m, p, _, _, s in api.requests if p == "/api/v1/namespaces/exp" or
                (m == "POST" and p == "/api/v1/namespaces")]
    deleted = sequence.index(("DELETE", "/api/v1/namespaces/exp", 200))
    gone = sequence.index(("GET", "/api/v1/namespaces/exp", 404))
    recreated = sequence.index(("POST", "/api/v1/namespaces", 201))
    assert deleted < gone < recreated  # waited until the old namespace was really gone
    assert set(api.stored("exp", "pods")) == {"agent-0", "nonagent"}


def test_a_namespace_that_is_not_symphonys_is_never_touched(api, kube):
    api.namespaces["shared"] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shared"},
                                "status": {"phase": "Active"}}
    with pytest.raises(ExperimentExistsError, match="not a Symphony experiment: choose another"):
        kube.launch(experiment(kube, name="shared"))
    with pytest.raises(ExperimentNotFoundError, match="^no experiment 'shared' on the kube backend"):
        kube.delete("shared")
    assert kube.list_experiments() == []
    assert api.namespaces["shared"]["status"]["phase"] == "Active"


@pytest.mark.parametrize("step", ["Namespace", "Secret", "Service", "Pod"])
def test_failure_at_any_step_removes_everything_that_was_created(api, kube, step, tmp_path):
    (tmp_path / "key").write_text("x")
    seen = []

    def fail_at_step(kind, obj):
        seen.append(kind)
        if kind == step and seen.count(kind) == (2 if kind in ("Service", "Pod") else 1):
            raise RuntimeError(f"injected failure creating {obj['metadata']['name']}")

    kube.fault_hook = fail_at_step
    with pytest.raises(LaunchError, match="nothing was left running: injected failure"):
        kube.launch(experiment(kube, secrets=[str(tmp_path / "key")]))
    assert api.namespaces == {} and api.objects == {}
    assert kube.list_experiments() == []


def test_a_refusal_by_the_api_server_is_reported_and_rolled_back(api, kube):
    def refuse_second_agent(method, path, body):
        if method == "POST" and body and body["metadata"]["name"] == "agent-1":
            return 422, 'Pod "agent-1" is invalid: spec.containers[0].image: Required value'
    api.fail = refuse_second_agent
    with pytest.raises(LaunchError, match=r'Pod "agent-1" is invalid: .*Required value \(HTTP 422\)'):
        kube.launch(experiment(kube))
    assert api.namespaces == {}


def test_delete_removes_the_namespace_and_waits_when_asked(api, kube):
    kube.launch(experiment(kube))
    kube.delete("exp", wait=True)
    assert api.namespaces == {} and kube.list_experiments() == []
    assert kube.current_experiment() is None
    with pytest.raises(ExperimentNotFoundError, match="no experiment 'exp' on the kube backend"):
        kube.delete("exp")


def test_list_hides_experiments_being_deleted(api, kube):
    kube.launch(experiment(kube, name="one"))
    kube.launch(experiment(kube, name="two"))
    kube.delete("one")
    assert kube.list_experiments() == ["two"]


def _now(offset=0.0):
    return (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=offset)).isoformat()


def _container_status(name, state, ready=False, restarts=0):
    return {"name": name, "image": IMAGE, "imageID": "", "ready": ready, "restartCount": restarts, "state": state}


def test_describe_reports_ready_restarts_and_state_per_container(api, kube):
    kube.launch(experiment(kube, agents=3))
    pods = api.stored("exp", "pods")
    pods["nonagent"]["status"] = {"phase": "Running", "containerStatuses": [
        _container_status("learner", {"running": {"startedAt": _now(2.3 * 3600)}}, ready=True, restarts=2),
        _container_status("replay", {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": _now(60),
                                                    "finishedAt": _now(30)}})]}
    pods["agent-0"]["status"] = {"phase": "Pending", "containerStatuses": [
        _container_status("agent-0", {"waiting": {"reason": "ImagePullBackOff", "message": "pull failed"}})]}
    pods["agent-1"]["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}]}

    statuses = {s.key: s for s in kube.describe_experiment("exp")}
    assert list(statuses) == ["agent-0", "agent-1", "agent-2", "nonagent/learner", "nonagent/replay"]
    learner = statuses["nonagent/learner"]
    assert (learner.group, learner.ready, learner.restarts) == ("nonagent", True, 2)
    assert learner.state_text() == "running: 2.3h"
    assert statuses["nonagent/replay"].state_text() == "terminated: Error (1)"
    assert statuses["nonagent/replay"].exit_code == 1 and statuses["nonagent/replay"].finished
    assert statuses["agent-0"].state_text() == "waiting: ImagePullBackOff"
    assert statuses["agent-1"].state_text() == \
        "pending: Unschedulable — 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    assert statuses["agent-2"].state_text() == "pending"
    with pytest.raises(ExperimentNotFoundError, match="^no experiment 'nope' on the kube backend"):
        kube.describe_experiment("nope")


def test_a_failed_pod_shows_failed_with_its_reason_instead_of_pending(api, kube):
    """An evicted pod's phase is Failed and its containers may have no status at all; without
    looking at the pod they would show `pending` forever."""
    kube.launch(experiment(kube, agents=2))
    pods = api.stored("exp", "pods")
    pods["agent-0"]["status"] = {"phase": "Failed", "reason": "Evicted",
                                 "message": "The node was low on resource: memory."}
    pods["nonagent"]["status"] = {"phase": "Failed", "reason": "DeadlineExceeded", "containerStatuses": [
        _container_status("learner", {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": _now(5)}}),
        _container_status("replay", {"waiting": {"reason": "ContainerCreating"}})]}

    statuses = {s.key: s for s in kube.describe_experiment("exp")}
    assert statuses["agent-0"].state_text() == "failed: Evicted: The node was low on resource: memory."
    assert statuses["nonagent/learner"].state_text() == "terminated: Error (137)"  # its own end is more precise
    assert statuses["nonagent/replay"].state_text() == "failed: DeadlineExceeded"
    assert statuses["agent-1"].state_text() == "pending"


def test_logs_per_container_with_tail_and_since(api, kube):
    kube.launch(experiment(kube))
    api.start_container("exp", "nonagent", "replay")
    api.write_log("exp", "nonagent", "replay", "one\ntwo\nthree\npartial")
    assert list(kube.get_log("exp", "replay")) == ["one", "two", "three", "partial"]
    assert list(kube.get_log("exp", "nonagent/replay", tail=2, since="5m")) == ["three", "partial"]
    query = api.log_requests("nonagent")[-1]
    assert query == {"container": "replay", "follow": "false", "sinceSeconds": "300", "tailLines": "2"}
    with pytest.raises(ProcessNotFoundError, match="has no process 'ghost': it has agent-0, agent-1"):
        kube.get_log("exp", "ghost")
    with pytest.raises(SymphonyError, match="invalid --since"):
        kube.get_log("exp", "replay", since="five minutes")


def test_ambiguous_process_names_ask_for_the_group(api, kube):
    exp = kube.new_experiment("amb")
    for group in ("a", "b"):
        exp.new_process_group(group).new_process("worker", container_image=IMAGE, command="python")
    kube.launch(exp)
    with pytest.raises(ProcessNotFoundError, match="ambiguous.*a/worker, b/worker"):
        kube.get_log("amb", "worker")


def test_external_url_is_the_load_balancer_address(api, kube):
    kube.launch(experiment(kube))
    api.stored("exp", "services")["tensorboard"]["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}
    assert kube.external_url("exp", "tensorboard") == "http://203.0.113.7:6006"
    with pytest.raises(SymphonyError, match="has no service 'tensorbord': it has .*tensorboard"):
        kube.external_url("exp", "tensorbord")
    with pytest.raises(SymphonyError, match="'replay-server' of 'exp' is bound, not exposed, so it has no URL: "
                                            r"declare it with exposes .*\(it exposes tensorboard\)"):
        kube.external_url("exp", "replay-server")


def test_shell_and_copy_say_what_to_install_without_kubectl(api, kube, monkeypatch, tmp_path):
    kube.launch(experiment(kube))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SymphonyError, match="needs kubectl, which is not on PATH: install it"):
        kube.shell("exp", "replay")
    with pytest.raises(SymphonyError, match="needs kubectl"):
        kube.copy("exp", (None, "/etc/hosts"), ("replay", "/tmp/hosts"))
    with pytest.raises(SymphonyError, match="exactly one side"):
        kube.copy("exp", ("replay", "/a"), ("learner", "/b"))


def test_unreachable_api_server_is_a_clear_error(tmp_path):
    from fake_apiserver import FakeApiServer as Server
    server = Server()
    config = server.kubeconfig(tmp_path / "kubeconfig")
    server.close()
    kube = Cluster.new("kube", kubeconfig=config)
    kube.core.api_client.configuration.retries = 0
    started = time.monotonic()
    with pytest.raises(SymphonyError, match="cannot reach the Kubernetes API server to list namespaces"):
        kube.list_experiments()
    assert time.monotonic() - started < 30


def test_exec_exit_code_comes_from_the_status_on_the_error_channel():
    from symphony.kube.cluster import _exit_code
    assert _exit_code('{"metadata":{},"status":"Success"}', "p", ["true"]) == 0
    assert _exit_code('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code",'
                      '"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}',
                      "p", ["sh"]) == 7
    with pytest.raises(SymphonyError, match="cannot run 'nosuch' in 'p': .*executable file not found"):
        _exit_code('{"metadata":{},"status":"Failure","message":"exec: \\"nosuch\\": executable file not found '
                   'in $PATH"}', "p", ["nosuch"])


FAKE_KUBECTL = """#!/bin/sh
echo "$@" >> "$KUBECTL_LOG"
case " $* " in
  *" port-forward "*)
    echo "Forwarding from 127.0.0.1:5555 -> 6006"
    trap 'kill $child; exit 0' TERM
    sleep 300 & child=$!
    wait $child;;
esac
exit "${KUBECTL_EXIT:-0}"
"""


@pytest.fixture
def kubectl_log(tmp_path, monkeypatch):
    """A stand-in kubectl on PATH that records its arguments (and port-forwards like kubectl prints)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    log = tmp_path / "kubectl.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("KUBECTL_LOG", str(log))
    return log


def test_ssh_and_scp_run_kubectl_for_the_right_pod_and_container(api, kube, kubectl_log, monkeypatch, tmp_path):
    kube.launch(experiment(kube))
    config = kube.kubeconfig
    assert kube.shell("exp", "replay") == 0
    kube.copy("exp", (None, str(tmp_path / "local.txt")), ("agent-1", "/tmp/x"))
    kube.copy("exp", ("nonagent/learner", "/fs/ckpt"), (None, "~/ckpt"))
    monkeypatch.setenv("KUBECTL_EXIT", "1")
    with pytest.raises(SymphonyError, match="kubectl cp .* failed"):
        kube.copy("exp", ("replay", "/nope"), (None, str(tmp_path)))
    calls = kubectl_log.read_text().splitlines()
    assert calls[0] == (f"--kubeconfig {config} exec -it -n exp nonagent -c replay -- /bin/sh -c "
                        f"command -v bash >/dev/null && exec bash || exec sh")
    assert calls[1] == f"--kubeconfig {config} cp -c agent-1 {tmp_path / 'local.txt'} exp/agent-1:/tmp/x"
    assert calls[2] == f"--kubeconfig {config} cp -c learner exp/nonagent:/fs/ckpt {os.path.expanduser('~/ckpt')}"


def test_visit_without_a_load_balancer_port_forwards_reuses_it_and_delete_stops_it(api, kube, kubectl_log):
    import psutil
    kube.launch(experiment(kube))
    assert kube.external_url("exp", "tensorboard") == "http://127.0.0.1:5555"
    assert kube.external_url("exp", "tensorboard") == "http://127.0.0.1:5555"
    forwards = [line for line in kubectl_log.read_text().splitlines() if "port-forward" in line]
    assert forwards == [f"--kubeconfig {kube.kubeconfig} port-forward -n exp --address 127.0.0.1 "
                        f"service/tensorboard :6006"]  # started once, then reused
    running = [p for p in psutil.process_iter(["cmdline"]) if "service/tensorboard" in (p.info["cmdline"] or [])]
    assert len(running) == 1
    kube.delete("exp")
    psutil.wait_procs(running, timeout=10)
    assert not running[0].is_running()


def test_exposed_services_are_what_visit_matches_against(api, kube):
    kube.launch(experiment(kube))
    assert kube.exposed_services("exp") == ["tensorboard"]
