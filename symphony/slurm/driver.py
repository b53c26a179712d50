"""The batch script's program: inside the allocation, resolve the addresses and start one step per process.

Only here are the nodes known. The driver reads which node each job component got
(``SLURM_JOB_NODELIST_HET_GROUP_<i>``) and how many of its tasks on each, the address Slurm itself uses for that node
(``NodeAddr``), asks each node for ports that are free there (:mod:`symphony.slurm.probe`, run by the
first step on each node before it waits, and here for the driver's own node), and hands those to the one resolver
(:class:`~symphony.slurm.plan.NodeAddressing`): every process gets the same ``SYMPH_*``
variables as on any backend, pointing at the real node of the binding process.

Each pod takes one task slot of its component, on the node Slurm put that slot
(``SLURM_TASKS_PER_NODE``). Starting a step (``srun --overlap --nodelist=<node>``, running
:mod:`symphony.slurm.runner`) is the slowest part of a launch, for slurmctld and slurmd, and it
needs only the node: so every step is started first, its runner waiting on its stdin, and the
addresses are found meanwhile (the ports and the ``scontrol`` for the node addresses come
alongside); then each runner gets what to run through its stdin. The driver waits until every
runner has checked in, records ``driver.json`` (``started``, or ``failed`` with one line, and
when each stage ended) for the launching command, and stays until every step has ended: the
job lives as long as its processes.
"""

import json
import os
import random
import subprocess
import sys
import time

from ..host.restarts import STABLE_RUN_SECONDS, restart_delays, should_restart
from .paths import RUNNER, status_path_for, step_path_for

CHECK_IN_TIMEOUT = 120.0


def main(job_dir):
    driver_path = os.path.join(job_dir, "driver.json")
    steps, probes = [], None
    phases = {"driver": time.time()}  # when each stage ended: driver.json keeps them, to see where a launch waits
    try:
        _reset(job_dir)
        with open(os.path.join(job_dir, "plan.json")) as handle:
            submitted = json.load(handle)
        het = int(os.environ.get("SLURM_HET_SIZE", "1")) > 1
        node_of = _pod_nodes(submitted["components"], het)
        asking = _ask_addresses(set(node_of.values()))
        asked, probes, looking = _start_probes(submitted, node_of)
        # Then every step, each runner waiting on its stdin for what to run: starting a step is slurmctld's and
        # slurmd's slowest work, and it needs only the node, so it overlaps with finding addresses and ports.
        # The first step on each other node looks for its free ports before it waits (no probe step of its
        # own to queue behind the others), so those steps start first.
        for process in sorted(submitted["processes"], key=lambda process: process["key"] not in looking):
            argv = _srun(job_dir, submitted["python"], process, node_of[process["pod"]], het,
                         looking.get(process["key"]))
            step = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE if process["key"] in looking else None)
            steps.append((process["key"], step))
            if process["key"] in looking:
                probes[node_of[process["pod"]]] = step
        started = dict(steps)
        steps = [(process["key"], started[process["key"]]) for process in submitted["processes"]]  # (plan order)
        phases["steps"] = time.time()
        from .plan import NodeAddressing, SlurmPlan  # (the resolver: imported while the steps start)
        plan = SlurmPlan.from_dict(submitted)
        with open(os.path.join(job_dir, "launch.json")) as handle:
            launch = json.load(handle)
        exp = _spec(launch)  # (the model, read while the steps start: the resolver then waits only for the ports)
        address_of = _node_addresses(set(node_of.values()), asking)
        ports = _choose_ports(asked, probes)
        phases["ports"] = time.time()
        rule = NodeAddressing({pod: address_of[node] for pod, node in node_of.items()}, ports)
        resolved = _resolve(exp, plan, launch, rule, job_dir)
        for process in resolved.processes:
            process.node = node_of[process.pod]
        resolved.save(os.path.join(job_dir, "resolved.json"))
        os.makedirs(os.path.join(job_dir, "steps"), mode=0o700, exist_ok=True)
        for process, (_, step) in zip(resolved.processes, steps):
            data = step_file(resolved, process)
            _write(step_path_for(job_dir, process.key), data)  # for exec/ssh/scp later
            try:
                step.stdin.write(json.dumps(data).encode())
                step.stdin.close()
            except BrokenPipeError:
                pass  # the step ended already: the check-in wait reports it
        phases["resolved"] = time.time()
        _wait_check_ins(job_dir, steps)
        phases["checked_in"] = time.time()
        _write(driver_path, {"state": "started", "nodes": node_of, "time": time.time(), "phases": phases})
    except Exception as exc:
        for answer in probes.values() if isinstance(probes, dict) else ():
            if not isinstance(answer, dict) and answer.poll() is None:
                answer.kill()
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"symphony: launch failed: {message}", file=sys.stderr, flush=True)
        _write(driver_path, {"state": "failed", "error": message, "time": time.time()})
        for _, step in steps:
            step.terminate()
        return 1
    for _, step in steps:
        step.wait()
    return 0


def _reset(job_dir):
    """A requeued job starts afresh: the previous run's statuses and verdict no longer hold."""
    for name in ("driver.json", "resolved.json"):
        try:
            os.unlink(os.path.join(job_dir, name))
        except FileNotFoundError:
            pass
    for sub in ("status", "steps"):
        directory = os.path.join(job_dir, sub)
        for name in os.listdir(directory) if os.path.isdir(directory) else ():
            os.unlink(os.path.join(directory, name))


def _pod_nodes(components, het):
    """pod -> its node: each component's pods take its task slots in order (Slurm's own task layout)."""
    node_of = {}
    for index, (pods, _) in enumerate(components):
        suffix = f"_HET_GROUP_{index}" if het else ""
        names = hostnames(os.environ[f"SLURM_JOB_NODELIST{suffix}"])
        slots = [node for node, count in zip(names, _tasks_per_node(os.environ[f"SLURM_TASKS_PER_NODE{suffix}"]))
                 for _ in range(count)]
        if len(slots) < len(pods):
            raise RuntimeError(f"component {index} got {len(slots)} task slots for {len(pods)} pods")
        node_of.update(zip(pods, slots))
    return node_of


def hostnames(nodelist):
    """``n[1-3],gpu07`` -> [n1, n2, n3, gpu07], as ``scontrol show hostnames`` expands it (asked only for a
    form other than ``prefix[ranges]``): one program less before the steps can start."""
    items, depth, start = [], 0, 0
    for at, char in enumerate(nodelist + ","):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(nodelist[start:at])
            start = at + 1
    names = []
    for item in filter(None, items):
        if "[" not in item:
            names.append(item)
            continue
        prefix, _, rest = item.partition("[")
        ranges, _, suffix = rest.partition("]")
        if suffix or not all(part.replace("-", "").isdigit() for part in ranges.split(",")):
            return subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                                  check=True).stdout.split()
        for part in ranges.split(","):
            low, _, high = part.partition("-")
            for number in range(int(low), int(high or low) + 1):
                names.append(f"{prefix}{number:0{len(low)}d}")
    return names


def _tasks_per_node(text):
    """``2(x3),1`` -> [2, 2, 2, 1] (Slurm's compressed SLURM_TASKS_PER_NODE)."""
    counts = []
    for item in text.split(","):
        count, _, repeat = item.partition("(x")
        counts += [int(count)] * (int(repeat.rstrip(")")) if repeat else 1)
    return counts


def _ask_addresses(names):
    """Start asking for the nodes' addresses (one ``scontrol``), while the probes and steps start."""
    return subprocess.Popen(["scontrol", "-o", "show", "node", ",".join(sorted(names))], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def _node_addresses(names, asking):
    """node name -> the address Slurm reaches it at (``NodeAddr``): what other nodes connect to."""
    text, errors = asking.communicate(timeout=120)
    if asking.returncode != 0:
        raise RuntimeError(f"scontrol show node failed: {errors.strip()}")
    addresses = {}
    for line in text.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "NodeName" in fields:
            addresses[fields["NodeName"]] = fields.get("NodeAddr") or fields["NodeName"]
    missing = set(names) - set(addresses)
    if missing:
        raise RuntimeError(f"scontrol does not know node(s) {', '.join(sorted(missing))}")
    return addresses


def _start_probes(submitted, node_of):
    """Look for ports free on the node of each binding process (declared ports are checked there): here at once
    for the driver's own node, and by the first step on each other node (its runner's ``--probe``).

    Returns (what each node is asked, node -> its answer, process key -> the ``--probe`` words of its step). Read
    from the submitted plan, where a declared port is a number and one Symphony chooses is ``PENDING_PORT`` (0).
    """
    wanted, fixed = {}, {}
    for process in submitted["processes"]:
        node = node_of[process["pod"]]
        for service, port in {**process["bound"], **process["exposed"]}.items():
            if port:
                fixed.setdefault(node, {})[service] = port
            else:
                wanted.setdefault(node, []).append(service)
    from ..host.ports import port_range
    probes, looking, here, (low, high) = {}, {}, os.environ.get("SLURMD_NODENAME"), port_range()
    first_on = {}
    for process in submitted["processes"]:
        first_on.setdefault(node_of[process["pod"]], process["key"])
    for node in sorted(set(wanted) | set(fixed)):
        count = len(wanted.get(node, ()))
        if node == here:  # the driver's own node: no step needed to look
            from .probe import probe
            probes[node] = probe(2 * count + 4, list(fixed.get(node, {}).values()), (low, high))
            continue
        looking[first_on[node]] = ",".join(str(number) for number in
                                           [low, high, 2 * count + 4, *fixed.get(node, {}).values()])
    return (wanted, fixed), probes, looking


def _choose_ports(asked, probes):
    """service -> a port free on the node of its binding process, from the probes' answers.

    Ports are distinct in the whole experiment, so that nodes sharing an address (several
    slurmd's on one machine) cannot hand out the same port twice.
    """
    wanted, fixed = asked
    taken = {port for ports in fixed.values() for port in ports.values()}
    chosen = {}
    for node in sorted(probes):
        answer = probes[node]
        if not isinstance(answer, dict):
            answer = _probe_answer(node, answer)
        busy = answer["busy"]
        if busy:
            service = next(s for s, p in fixed[node].items() if p == busy[0])
            raise RuntimeError(f"fixed port {busy[0]} of service {service!r} is already in use on node {node}: "
                               f"choose another port, or stop what listens on it")
        free = [port for port in answer["free"] if port not in taken]
        random.shuffle(free)
        for service in wanted.get(node, ()):
            if not free:
                raise RuntimeError(f"not enough free ports found on node {node}")
            chosen[service] = free.pop()
            taken.add(chosen[service])
    return chosen


def _probe_answer(node, step):
    """What the looking step's runner found (its first line), within 120s. Its stdout stays open, unread: the
    runner writes nothing more there (its process's output goes to the log)."""
    import select
    if not select.select([step.stdout], [], [], 120)[0]:
        raise RuntimeError(f"finding free ports on node {node} failed: no answer within 120s")
    line = step.stdout.readline()
    try:
        return json.loads(line)
    except ValueError:
        step.wait()
        raise RuntimeError(f"finding free ports on node {node} failed: its step ended (exit {step.returncode}) "
                           f"without an answer") from None


def _spec(launch):
    from ..spec import ExperimentSpec
    return ExperimentSpec.from_dict(launch["spec"])


def _resolve(exp, plan, launch, rule, job_dir):
    """The one resolver again, now with the nodes' addresses and ports: the plan every step runs."""
    from ..resolution.capabilities import SLURM, SLURM_CONTAINERS
    from .plan import build_plan
    return build_plan(exp, rule, capabilities=SLURM_CONTAINERS if launch["containers"] else SLURM, job_dir=job_dir,
                      python=plan.python, settings=launch["settings"], shell=launch["shell"],
                      cluster_preamble=launch["cluster_preamble"], inherited_env=os.environ,
                      restart_backoff=launch["restart_backoff"], grace=launch["grace"])


def _srun(job_dir, python, process, node, het, probe=None):
    """The step of one process (its submitted plan, a dict): on its pod's node, sharing the pod's resources with
    the pod's other steps. Its runner reads what to run from its stdin (``-``), once the addresses are known;
    with ``probe`` (``LOW,HIGH,COUNT[,FIXED...]``) it first prints the node's free ports (``--probe``)."""
    argv = ["srun", "--overlap", "--ntasks=1", "--nodes=1", f"--nodelist={node}", "--quiet",
            f"--job-name={process['key']}", "--kill-on-bad-exit=0"]
    if het:
        argv.append(f"--het-group={process['component']}")
    if process.get("image"):
        argv += [f"--container-image={process['image']}", f"--container-mounts={job_dir}"]
        if process["cwd"]:  # else the image's WORKDIR, as on Docker and Kubernetes
            argv.append(f"--container-workdir={process['cwd']}")
    return argv + [python, "-I", "-S", RUNNER] + (["--probe", probe] if probe else []) + ["-"]


#: the ends the runner tells apart, in the order of its ``decision`` string: exit 0, another exit, a signal
_ENDS = ((0, None), (1, None), (None, "SIGTERM"))


def step_file(plan, process):
    """What one step's runner needs, with the restart rule of :mod:`symphony.host.restarts` evaluated: the
    runner then imports nothing of Symphony (see :mod:`symphony.slurm.runner`)."""
    delays = restart_delays(plan.restart_backoff)
    step = {"key": process.key, "argv": process.argv, "cwd": process.cwd, "env": process.env,
            "log": process.log_path, "status": status_path_for(plan.job_dir, process.key),
            "decision": "".join("1" if should_restart(process.restart_policy, code, name) else "0"
                                for code, name in _ENDS),
            "stable": STABLE_RUN_SECONDS, "delays": delays, "grace": plan.grace}
    if process.waits:  # the runner holds the process first, with symphony.readiness from this checkout
        step["waits"] = process.waits
        step["symphony_path"] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return step




def _wait_check_ins(job_dir, steps):
    """Until every runner has recorded its process started; a step that ends first fails the launch."""
    deadline = time.monotonic() + CHECK_IN_TIMEOUT
    waiting = list(steps)
    while waiting:
        still = []
        for key, step in waiting:
            if os.path.exists(status_path_for(job_dir, key)):
                continue
            if step.poll() is not None:
                raise RuntimeError(f"the step of process {key!r} ended (exit {step.returncode}) before "
                                   f"its process started: see {job_dir}/driver.log")
            still.append((key, step))
        waiting = still
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} process(es) did not start within {CHECK_IN_TIMEOUT:g}s, e.g. "
                               f"{waiting[0][0]!r}")
        if waiting:
            time.sleep(0.05)


def _write(path, data):
    with open(path + ".tmp", "w") as handle:
        json.dump(data, handle)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
