"""Requests to the API server per pod stay constant as experiments grow; big launches show progress.

Counted on the fake API server (see fake_apiserver.py): every request the real client sends.
"""

import sys
import time

import pytest

from pseudoterminal import PseudoTerminal
from symphony.cluster import progress as progress_module


IMAGE = "python:3.11-slim"


@pytest.fixture
def kube(api_cluster):
    return api_cluster


def experiment(kube, name, pods):
    """``pods`` pods, two of them binding a service the rest connect to: services do not grow with N."""
    exp = kube.new_experiment(name)
    for i in range(pods):
        proc = exp.new_process(f"p{i}", container_image=IMAGE, command="sleep", args=["3600"])
        if i < 2:
            proc.binds(f"svc-{i}")
        else:
            proc.connects(["svc-0", "svc-1"])
    return exp


def requests_during(api, action):
    """(method, kind of path) of every request ``action`` made, e.g. ("POST", "pods"), ("GET", "pods list")."""
    start = len(api.requests)
    action()
    made = []
    for method, path, _, _, _ in api.requests[start:]:
        parts = path.strip("/").split("/")[2:]
        kind = parts[2] + (" list" if len(parts) == 3 and method == "GET" else "") if len(parts) >= 3 else \
            "namespace" if len(parts) == 2 else "namespaces list"
        made.append((method, kind))
    return made


def test_launch_describe_and_delete_make_the_same_requests_at_10_and_100_pods_but_one_create_per_pod(api, kube):
    counts = {}
    for pods in (10, 100):
        name = f"scale-{pods}"
        exp = experiment(kube, name, pods)
        launched = requests_during(api, lambda: kube.launch(exp))
        described = requests_during(api, lambda: kube.describe_experiment(name))
        deleted = requests_during(api, lambda: kube.delete(name, wait=True))
        counts[pods] = launched, described, deleted
        assert launched.count(("POST", "pods")) == pods
    (launch_10, describe_10, delete_10), (launch_100, describe_100, delete_100) = counts[10], counts[100]
    # everything but the pods' own creates is the same whatever the size: no per-pod reads or lists
    without_pod_creates = [sorted(r for r in made if r != ("POST", "pods")) for made in (launch_10, launch_100)]
    assert without_pod_creates[0] == without_pod_creates[1]
    assert (len(launch_100) - len(launch_10)) / (100 - 10) == 1.0  # requests per extra pod: exactly one
    assert sorted(describe_10) == sorted(describe_100) == [("GET", "namespace"), ("GET", "pods list")]
    assert sorted(delete_10) == sorted(delete_100)


def test_locating_a_process_lists_pods_once_rather_than_reading_each(api, kube):
    exp = experiment(kube, "locate", 30)
    kube.launch(exp)
    api.start_container("locate", "p17", "p17")
    start = len(api.requests)
    made = requests_during(api, lambda: list(kube.get_log("locate", "p17")))
    assert made.count(("GET", "pods list")) == 1
    pods_read = {path.split("/")[6] for method, path, _, _, _ in api.requests[start:]  # /api/v1/namespaces/x/pods/NAME
                 if method == "GET" and path.split("/")[5:6] == ["pods"] and len(path.split("/")) > 6}
    assert pods_read == {"p17"}  # no read of any pod but the one whose log is read


def test_a_slow_launch_and_delete_on_a_terminal_count_objects_on_one_line(api, kube, monkeypatch):
    monkeypatch.setattr(progress_module, "DELAY", 0.2)
    terminal = PseudoTerminal()
    monkeypatch.setattr(sys, "stderr", terminal.stream)
    api.post_delay = 0.03  # 21 objects, 16 at a time: about half a second of creates
    api.terminating_reads = 30  # and a namespace that takes a while to go
    try:
        kube.launch(experiment(kube, "shown", 20))
        kube.delete("shown", wait=True)
        time.sleep(0.2)
    finally:
        monkeypatch.undo()
        terminal.close()
    text = terminal.data.decode()
    assert "\r\x1b[Klaunching 'shown': " in text and "/23 objects created" in text  # namespace, 2 services, 20 pods
    assert "\r\x1b[Kdeleting 'shown': 0/1 namespaces gone" in text
    lines = text.split("\r\n")  # only the backend's summary line ends with a newline (the pty adds \r)
    assert len(lines) == 2 and lines[0].rsplit("\r\x1b[K", 1)[-1].startswith("launched 'shown'")
    assert lines[1].endswith("\r\x1b[K")  # the delete's line, erased


def test_a_piped_launch_shows_no_progress(api, kube, capfd):
    api.post_delay = 0.02
    kube.launch(experiment(kube, "piped", 20))
    err = capfd.readouterr().err
    assert "objects created" not in err and "\r" not in err


def test_planning_and_printing_leave_the_cycle_collector_alone(kube, monkeypatch):
    """A library call does not switch a process-wide setting: the plan is built small enough
    for the collector instead (shared parts, see bench/kube_plan.py)."""
    import gc
    from symphony.kube import manifests
    seen = []
    resolve, dump = manifests.resolve, manifests.dump_manifest
    monkeypatch.setattr(manifests, "resolve", lambda *a, **k: (seen.append(gc.isenabled()), resolve(*a, **k))[1])
    monkeypatch.setattr(manifests, "dump_manifest", lambda obj: (seen.append(gc.isenabled()), dump(obj))[1])
    kube.plan(experiment(kube, "collector", 3)).render()
    assert seen and all(seen)


def test_pods_share_the_parts_they_have_in_common_except_where_an_overlay_merges(kube):
    """10,000 copies of the same forty variables, volume and selector are what made a big plan's
    per-process cost grow with the collector running; a pod with an overlay, which is merged in
    place, gets its own, so the overlay changes no other pod."""
    exp = kube.new_experiment("shared")
    for name in ("a", "b", "c"):
        proc = exp.new_process(name, container_image=IMAGE, command="sleep", args=["1"], env={"SAME": "1"})
        proc.mount_nfs(server="fs", path="/data", mount_path="/fs")
        proc.node_selector("pool", "cpu").add_toleration(key="k", operator="Exists")
    exp.get_process("c").container_yml.update({"env": [{"name": "SAME", "value": "changed"}]})
    exp.get_process("c").pod_yml.update({"spec": {"nodeSelector": {"pool": "gpu"}}})
    pods = {pod["metadata"]["name"]: pod for pod in kube.plan(exp).of_kind("Pod")}
    a, b, c = (pods[name]["spec"] for name in ("a", "b", "c"))
    same = lambda spec: next(item for item in spec["containers"][0]["env"] if item["name"] == "SAME")  # noqa: E731
    assert same(a) is same(b) and a["volumes"] is b["volumes"] and a["nodeSelector"] is b["nodeSelector"]
    assert a["tolerations"] is b["tolerations"]
    assert a["containers"][0]["volumeMounts"] is b["containers"][0]["volumeMounts"]
    assert same(c)["value"] == "changed" and same(a)["value"] == "1"
    assert c["nodeSelector"] == {"pool": "gpu"} and a["nodeSelector"] == {"pool": "cpu"}
