"""Readiness checks and start order as declared: defaults, one-line refusals at declaration time,
rings of waits named, the file form, and what the resolved stage carries for every backend."""

import io

import pytest

import symphony.readiness as readiness
from symphony.errors import SpecError, UnboundServiceError
from symphony.readiness import ReadinessCheck, WaitingCycleError, command, http, tcp
from symphony.resolution import HOST, Target, resolve
from symphony.resolution.meaning import CheckMeaning, WaitMeaning, check_meaning, wait_meaning
from symphony.resolution.resolved import ResolvedCheck, ResolvedWait
from symphony.spec import load_yaml
from symphony.spec.model import ExperimentSpec
from symphony.spec.serialize import experiment_from_dict, experiment_schema


def one_line(excinfo):
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


def test_defaults_and_options():
    assert (tcp().interval, tcp().timeout, tcp().failure_threshold) == (1.0, 1.0, 3)
    check = http("/healthz", interval="500ms", timeout=2, failure_threshold=5)
    assert (check.kind, check.path, check.interval, check.timeout, check.failure_threshold) == \
        ("http", "/healthz", 0.5, 2.0, 5)
    assert command(["python", "check.py"]).argv == ("python", "check.py")
    assert command("test -f /tmp/ready", shell=True).argv == ("test -f /tmp/ready",)
    assert http("/x") == http("/x") and http("/x") != http("/y") and len({tcp(), tcp()}) == 1
    with pytest.raises(AttributeError):
        tcp().interval = 5


@pytest.mark.parametrize("make, message", [
    (lambda: tcp(interval=-1), r"^tcp\(\) interval must be more than 0 and at most 3600 seconds, got -1$"),
    (lambda: tcp(interval=0), r"^tcp\(\) interval must be more than 0"),
    (lambda: http("/x", timeout="soon"), r"^http\(\) timeout must be a number of seconds or a duration such as "),
    (lambda: tcp(failure_threshold=0), r"^tcp\(\) failure_threshold must be a whole number from 1 to 1000, got 0$"),
    (lambda: tcp(failure_threshold=2.5), r"failure_threshold must be a whole number"),
    (lambda: tcp(interval=True), r"interval must be a number of seconds"),
    (lambda: tcp(interval=float("nan")), r"interval must be a number of seconds"),
    (lambda: http("healthz"), r"^http\(\) takes the path to GET, starting with '/' .*e\.g\. http\('/healthz'\)"),
    (lambda: http("/a b"), r"without spaces"),
    (lambda: command("python check.py"), r"^command\(\) takes the program and its arguments as a list, e\.g\. "
                                         r"command\(\['python', 'check\.py'\]\).*give shell=True"),
    (lambda: command([]), r"^command\(\) takes a non-empty list of strings"),
    (lambda: command(["python", 3]), r"^command\(\) takes a non-empty list of strings"),
    (lambda: command(["a"], shell=True), r"^command\(\.\.\., shell=True\) takes one shell line"),
    (lambda: ReadinessCheck("udp"), r"^unknown readiness check 'udp': use tcp\(\), http\('/path'\) or command"),
])
def test_bad_checks_are_refused_in_one_line(make, message):
    with pytest.raises(SpecError, match=message) as excinfo:
        make()
    one_line(excinfo)


def test_binds_keeps_its_shapes_and_ready_applies_to_each_named_service():
    exp = ExperimentSpec("x")
    server = exp.new_process("server", command="srv")
    assert server.binds("plain") is server and server.readiness == {}
    server.binds(["a", "b"], ready=http("/healthz"))
    server.binds({"c": 7001, "d": None}, ready=command(["true"]))
    server.exposes({"tb": 6006}, ready=http("/"))
    assert server.bound == {"plain": None, "a": None, "b": None, "c": 7001, "d": None}
    assert server.readiness == {"a": http("/healthz"), "b": http("/healthz"), "c": command(["true"]),
                                "d": command(["true"]), "tb": http("/")}
    with pytest.raises(SpecError, match=r"^process 'server': ready= takes tcp\(\), http\('/path'\) or command\(\[\.\.\.\]\) "
                                        r"from symphony\.readiness, got 5$"):
        server.binds("e", ready=5)
    assert "e" not in server.bound, "a refused binds() must leave nothing behind"
    server.binds("f", ready={"http": "/from-a-mapping"})
    assert server.readiness["f"] == http("/from-a-mapping")


def test_connects_wait_and_its_options():
    exp = ExperimentSpec("x")
    exp.new_process("server", command="srv").binds(["replay", "params"])
    agent = exp.new_process("agent", command="agent")
    agent.connects("replay", wait=True).connects("params", wait=True, wait_timeout="90s", on_timeout="start")
    agent.connects("logs")
    assert agent.connected == ["replay", "params", "logs"]
    waits = agent.waits_for()
    assert list(waits) == ["replay", "params"]
    assert (waits["replay"].timeout, waits["replay"].on_timeout) == (300.0, "fail")
    assert (waits["params"].timeout, waits["params"].on_timeout) == (90.0, "start")
    for call, message in [
        (lambda: agent.connects("replay", wait="yes"), r"wait= must be True or False, got 'yes'$"),
        (lambda: agent.connects("replay", wait_timeout=5), r"got wait_timeout/on_timeout without wait=True: add wait=True$"),
        (lambda: agent.connects("replay", wait=True, wait_timeout=-5), r"wait_timeout must be more than 0"),
        (lambda: agent.connects("replay", wait=True, on_timeout="retry"),
         r"on_timeout must be 'fail' \(do not start the process\) or 'start' \(start it anyway\), got 'retry'$"),
        (lambda: exp.start_order("random"), r"unknown start order 'random': use 'services'"),
    ]:
        with pytest.raises(SpecError, match=message) as excinfo:
            call()
        one_line(excinfo)


def test_waiting_for_a_service_nobody_binds_is_refused_before_anything_starts():
    exp = ExperimentSpec("x")
    exp.new_process("agent", command="agent").connects("replay", wait=True)
    with pytest.raises(UnboundServiceError, match=r"connects to service 'replay' but no process binds it"):
        exp.validate()


def ring(exp, size, wait=True):
    processes = [exp.new_process(f"p{i}", command="run").binds(f"s{i}") for i in range(size)]
    for i, process in enumerate(processes[:-1]):
        process.connects(f"s{i + 1}", wait=wait)
    return processes


def test_a_ring_of_waits_is_refused_when_it_closes_naming_the_ring():
    exp = ExperimentSpec("x")
    processes = ring(exp, 3)
    with pytest.raises(WaitingCycleError) as excinfo:
        processes[-1].connects("s0", wait=True)
    assert one_line(excinfo) == (
        "processes wait for each other in a cycle, so none could start: p2 -> p0 -> p1 -> p2 "
        "(p2 waits for 's0', p0 waits for 's1', p1 waits for 's2'): "
        "connect without wait=True on one of these connections")
    assert processes[-1].connected == [] and processes[-1].waits == {}, "the refused wait is not kept"
    processes[-1].connects("s0")  # a ring without waits stays allowed (the socket ring)
    exp.validate()


def test_a_ring_closed_by_binding_the_last_service_is_refused_too():
    exp = ExperimentSpec("x")
    a, b = exp.new_process("a", command="a"), exp.new_process("b", command="b")
    a.binds("sa").connects("sb", wait=True)
    b.connects("sa", wait=True)
    with pytest.raises(WaitingCycleError, match=r"b -> a -> b \(b waits for 'sa', a waits for 'sb'\)"):
        b.binds("sb")
    assert "sb" not in b.bound
    exp.new_process("c", command="c").binds({"sb": 7000})  # the refused binding left no provider behind
    exp.validate()


def test_waiting_for_ones_own_service_is_a_ring_of_one():
    exp = ExperimentSpec("x")
    server = exp.new_process("server", command="srv").binds("replay")
    with pytest.raises(WaitingCycleError, match=r"server -> server \(server waits for 'replay'\)"):
        server.connects("replay", wait=True)


def test_start_order_services_makes_every_connection_wait_and_refuses_a_socket_ring():
    exp = ExperimentSpec("x")
    ring(exp, 3, wait=False)[-1].connects("s0")
    with pytest.raises(WaitingCycleError) as excinfo:
        exp.start_order("services")
    assert one_line(excinfo).endswith("exp.start_order('services') makes every connection wait: use "
                                      "exp.start_order('declared') and connects(name, wait=True) on the "
                                      "connections that must wait")
    assert exp.order == "declared", "a refused start order changes nothing"
    chain = ExperimentSpec("y")
    ring(chain, 3, wait=False)
    chain.new_process("self", command="x").binds("own").connects("own")  # its own service: no wait
    chain.start_order("services", wait_timeout="2m", on_timeout="start")
    assert {k: list(p.waits_for()) for k, p in chain.all_processes.items()} == \
        {"p0": ["s1"], "p1": ["s2"], "p2": [], "self": []}
    assert (chain.get_process("p0").waits_for()["s1"].timeout, chain.get_process("p0").waits_for()["s1"].on_timeout) \
        == (120.0, "start")
    with pytest.raises(WaitingCycleError, match=r"p2 -> p0 -> p1 -> p2"):
        chain.get_process("p2").connects("s0")  # under start_order('services'), a plain connect waits


def test_a_ring_filled_in_directly_is_a_validation_problem():
    exp = ExperimentSpec("x")
    a, b = exp.new_process("a", command="a").binds("sa"), exp.new_process("b", command="b").binds("sb")
    a.connected.append("sb")
    b.connected.append("sa")
    a.waits["sb"] = readiness.Wait()
    b.waits["sa"] = readiness.Wait()
    with pytest.raises(WaitingCycleError, match=r"^processes wait for each other in a cycle, so none could start: "
                                                r"a -> b -> a"):
        exp.validate()
    with pytest.raises(WaitingCycleError, match=r"^processes\.b\.wait: processes wait for each other in a cycle, "
                                                r"so none could start: b -> a -> b"):
        experiment_from_dict(exp.to_dict())  # a file is refused where its ring closes, while loading


def build():
    exp = ExperimentSpec("rl")
    server = exp.new_process("server", command="python", args=["server.py"])
    server.binds("replay", ready=http("/healthz", interval=0.5)).binds("params")
    server.binds("sidecar", ready=command("test -f /tmp/ready", shell=True, failure_threshold=1))
    group = exp.new_process_group("g")
    group.new_process("learner", command="python", args=["learner.py"]).binds(
        "probe", ready=command(["python", "check.py"], timeout="3s"))
    for i in range(2):
        agent = exp.new_process(f"agent-{i}", command="python", args=["agent.py"])
        agent.connects("replay", wait=True).connects("params", wait=True, wait_timeout=30, on_timeout="start")
        agent.connects("probe")
    return exp


def test_the_file_form_round_trips_and_reads_like_the_python():
    exp = build()
    data = exp.to_dict()
    assert data["processes"]["server"]["ready"] == {
        "replay": {"http": "/healthz", "interval": 0.5},
        "sidecar": {"command": "test -f /tmp/ready", "shell": True, "failure_threshold": 1}}
    assert data["groups"]["g"]["processes"]["learner"]["ready"] == {"probe": {"command": ["python", "check.py"],
                                                                             "timeout": 3}}
    assert data["processes"]["agent-0"]["wait"] == {"replay": {}, "params": {"wait_timeout": 30, "on_timeout": "start"}}
    for loaded in (experiment_from_dict(data), load_yaml(io.StringIO(exp.dump_yaml()))):
        assert loaded.to_dict() == data
        assert loaded.get_process("server").readiness == exp.get_process("server").readiness
        assert loaded.get_process("agent-1").waits_for() == exp.get_process("agent-1").waits_for()
    simple = load_yaml(io.StringIO("name: x\nprocesses:\n  s: {command: s, binds: [a, b], ready: {a: tcp, "
                                   "b: {tcp: true, interval: 2}}}\n  c: {command: c, connects: [a], wait: a}\n"))
    assert simple.get_process("s").readiness == {"a": tcp(), "b": tcp(interval=2)}
    assert list(simple.get_process("c").waits_for()) == ["a"]


@pytest.mark.parametrize("process, message", [
    ("{command: s, binds: [a], ready: {a: {udp: true}}}", r"processes\.s\.ready: .*exactly one of tcp, http, command"),
    ("{command: s, binds: [a], ready: {a: {http: /x, interval: -1}}}",
     r"processes\.s\.ready: http\(\) interval must be more than 0"),
    ("{command: s, binds: [a], ready: {b: tcp}}",
     r"processes\.s\.ready: process 's' has a readiness check for service 'b' but does not provide it"),
    ("{command: s, binds: [a], ready: {a: ping}}", r"unknown readiness check 'ping'"),
    ("{command: s, binds: [a], wait: {a: {on_timeout: later}}}", r"processes\.s\.wait: .*on_timeout must be 'fail'"),
    ("{command: s, binds: [a], wait: [a]}", r"processes\.s\.wait: .*s -> s"),
])
def test_bad_file_keys_are_refused_at_their_line(process, message):
    text = f"name: x\nprocesses:\n  s: {process}\n"
    with pytest.raises(SpecError, match=message) as excinfo:
        load_yaml(io.StringIO(text))
    one_line(excinfo)


def test_the_schema_describes_the_new_keys():
    jsonschema = pytest.importorskip("jsonschema")
    schema = experiment_schema()
    jsonschema.validate(build().to_dict(), schema)
    for bad in ({"ready": {"a": {"udp": True}}}, {"ready": {"a": {"http": "/x", "tcp": True}}},
                {"wait": {"a": {"on_timeout": "later"}}}, {"ready": {"a": "ping"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"name": "x", "processes": {"s": {"command": "s", **bad}}}, schema)


class Rule:
    """Host addressing as on this machine: every service on 127.0.0.1, ports from 7000."""

    bind_host = "127.0.0.1"

    def host_for(self, service, process):
        return "127.0.0.1"

    def assign_ports(self, fixed, wanted):
        return {**fixed, **{name: 7000 + i for i, name in enumerate(wanted)}}


def test_the_resolved_stage_carries_checks_and_waits_at_their_real_addresses():
    exp = build()
    resolved = resolve(exp, Rule(), Target(capabilities=HOST, shell="/bin/bash"))
    by_key = {process.key: process for process in resolved.processes}
    ports = resolved.ports()
    server = by_key["server"]
    assert server.checks == [
        ResolvedCheck("replay", "http", "127.0.0.1", ports["replay"], "/healthz", (), 0.5, 1.0, 3, True),
        ResolvedCheck("params", "tcp", "127.0.0.1", ports["params"], None, (), 1.0, 1.0, 3, False),
        ResolvedCheck("sidecar", "command", "127.0.0.1", ports["sidecar"], None,
                      ("/bin/bash", "-c", "test -f /tmp/ready"), 1.0, 1.0, 1, True)]
    assert by_key["g/learner"].checks[0].argv == ("python", "check.py")
    assert by_key["g/learner"].checks[0].timeout == 3.0
    agent = by_key["agent-0"]
    assert [(w.service, w.provider, w.port, w.timeout, w.on_timeout) for w in agent.waits] == [
        ("replay", "server", ports["replay"], 300.0, "fail"), ("params", "server", ports["params"], 30.0, "start")]
    assert agent.waits[0].check is server.checks[0]
    assert by_key["server"].waits == [] and resolved.has_waits
    assert set(resolved.checks()) == {"replay", "params", "sidecar", "probe"}
    assert [check_meaning(c) for c in server.checks][0] == CheckMeaning(
        "replay", "http", ports["replay"], "/healthz", (), 0.5, 1.0, 3)
    assert wait_meaning(agent.waits[1]) == WaitMeaning("params", "server", 30.0, "start")
    for wait in agent.waits:  # what a supervisor reads back from a plan written as JSON
        assert ResolvedWait.from_dict(wait.to_dict()) == wait
    plain = ExperimentSpec("plain")
    plain.new_process("a", command="a").binds("s")
    plain.new_process("b", command="b").connects("s")
    assert not resolve(plain, Rule(), Target(capabilities=HOST, shell="/bin/sh")).has_waits


def test_the_readiness_names_are_importable_from_the_package():
    assert readiness.tcp is tcp and readiness.http is http and readiness.command is command
    with pytest.raises(AttributeError):
        readiness.nothing_here


def test_the_experiments_start_order_in_the_file_form():
    exp = ExperimentSpec("x")
    assert exp.order_data() == {}
    exp.start_order("services", wait_timeout="2m", on_timeout="start")
    assert exp.order_data() == {"start_order": "services", "wait_timeout": 120, "on_timeout": "start"}
    other = ExperimentSpec("x").load_order(exp.order_data())
    assert (other.order, other.wait_timeout, other.on_timeout) == ("services", 120.0, "start")
    assert ExperimentSpec("x").load_order({"wait_timeout": 30}).order_data() == {"wait_timeout": 30}
    with pytest.raises(SpecError, match=r"unknown start order 'sometimes'"):
        ExperimentSpec("x").load_order({"start_order": "sometimes"})
