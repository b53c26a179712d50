"""The batch script's program: inside the allocation, resolve the addresses and start one step per process.

Only here are the nodes known. The driver reads which node each job component got
(``SLURM_JOB_NODELIST_HET_GROUP_<i>``) and how many of its tasks on each, the address Slurm itself uses for that node
(``NodeAddr``), asks each node for ports that are free there (a short ``srun`` step running
:mod:`symphony.slurm.probe`), and hands those to the one resolver
(:class:`~symphony.slurm.plan.NodeAddressing`): every process gets the same ``SYMPH_*``
variables as on any backend, pointing at the real node of the binding process.

Each pod takes one task slot of its component, on the node Slurm put that slot
(``SLURM_TASKS_PER_NODE``). It then starts ``srun --overlap --nodelist=<node>`` per process (each running
:mod:`symphony.slurm.runner`), waits until every runner has checked in, records
``driver.json`` (``started``, or ``failed`` with one line) for the launching command, and
stays until every step has ended: the job lives as long as its processes.
"""

import json
import os
import random
import subprocess
import sys
import time

from .paths import status_path_for
from .plan import NodeAddressing, SlurmPlan, build_plan

CHECK_IN_TIMEOUT = 120.0


def main(job_dir):
    driver_path = os.path.join(job_dir, "driver.json")
    steps = []
    try:
        _reset(job_dir)
        plan = SlurmPlan.load(os.path.join(job_dir, "plan.json"))
        with open(os.path.join(job_dir, "launch.json")) as handle:
            launch = json.load(handle)
        het = int(os.environ.get("SLURM_HET_SIZE", "1")) > 1
        node_of = _pod_nodes(plan, het)
        address_of = _node_addresses(set(node_of.values()))
        ports = _choose_ports(plan, node_of, het, launch)
        rule = NodeAddressing({pod: address_of[node] for pod, node in node_of.items()}, ports)
        resolved = _resolve(plan, launch, rule, job_dir)
        for process in resolved.processes:
            process.node = node_of[process.pod]
        resolved.save(os.path.join(job_dir, "resolved.json"))
        for process in resolved.processes:
            steps.append((process, subprocess.Popen(_srun(resolved, process, het), stdin=subprocess.DEVNULL)))
        _wait_check_ins(job_dir, steps)
        _write(driver_path, {"state": "started", "nodes": node_of, "time": time.time()})
    except Exception as exc:
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
    status_dir = os.path.join(job_dir, "status")
    for name in os.listdir(status_dir) if os.path.isdir(status_dir) else ():
        os.unlink(os.path.join(status_dir, name))


def _pod_nodes(plan, het):
    """pod -> its node: each component's pods take its task slots in order (Slurm's own task layout)."""
    node_of = {}
    for index, (pods, _) in enumerate(plan.components):
        suffix = f"_HET_GROUP_{index}" if het else ""
        names = subprocess.run(["scontrol", "show", "hostnames", os.environ[f"SLURM_JOB_NODELIST{suffix}"]],
                               capture_output=True, text=True, check=True).stdout.split()
        slots = [node for node, count in zip(names, _tasks_per_node(os.environ[f"SLURM_TASKS_PER_NODE{suffix}"]))
                 for _ in range(count)]
        if len(slots) < len(pods):
            raise RuntimeError(f"component {index} got {len(slots)} task slots for {len(pods)} pods")
        node_of.update(zip(pods, slots))
    return node_of


def _tasks_per_node(text):
    """``2(x3),1`` -> [2, 2, 2, 1] (Slurm's compressed SLURM_TASKS_PER_NODE)."""
    counts = []
    for item in text.split(","):
        count, _, repeat = item.partition("(x")
        counts += [int(count)] * (int(repeat.rstrip(")")) if repeat else 1)
    return counts


def _node_addresses(names):
    """node name -> the address Slurm reaches it at (``NodeAddr``): what other nodes connect to."""
    text = subprocess.run(["scontrol", "-o", "show", "node", ",".join(sorted(names))], capture_output=True,
                          text=True, check=True).stdout
    addresses = {}
    for line in text.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "NodeName" in fields:
            addresses[fields["NodeName"]] = fields.get("NodeAddr") or fields["NodeName"]
    missing = set(names) - set(addresses)
    if missing:
        raise RuntimeError(f"scontrol does not know node(s) {', '.join(sorted(missing))}")
    return addresses


def _choose_ports(plan, node_of, het, launch):
    """service -> a port free on the node of its binding process (declared ports are checked there).

    Ports are distinct in the whole experiment, so that nodes sharing an address (several
    slurmd's on one machine) cannot hand out the same port twice.
    """
    spec = launch["spec"]
    wanted, fixed, component_of_node = {}, {}, {}
    for process in plan.processes:
        node = node_of[process.pod]
        component_of_node[node] = process.component
        for service in {**process.bound, **process.exposed}:
            declared = _declared_port(spec, service)
            if declared is not None:
                fixed.setdefault(node, {})[service] = declared
            else:
                wanted.setdefault(node, []).append(service)
    nodes = sorted(set(wanted) | set(fixed))
    probes, here = {}, os.environ.get("SLURMD_NODENAME")
    for node in nodes:
        count = len(wanted.get(node, ()))
        if node == here:  # the driver's own node: no step needed to look
            from .probe import probe
            probes[node] = probe(2 * count + 4, list(fixed.get(node, {}).values()))
            continue
        argv = [plan.python, "-m", "symphony.slurm.probe", str(2 * count + 4)] + \
               [str(port) for port in fixed.get(node, {}).values()]
        srun = ["srun", "--overlap", "--ntasks=1", "--nodes=1", f"--nodelist={node}", "--quiet"]
        if het:
            srun.append(f"--het-group={component_of_node[node]}")
        probes[node] = subprocess.Popen(srun + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        stdin=subprocess.DEVNULL)
    taken = {port for ports in fixed.values() for port in ports.values()}
    chosen = {}
    for node in nodes:
        answer = probes[node]
        if not isinstance(answer, dict):
            out, err = answer.communicate(timeout=120)
            if answer.returncode != 0:
                raise RuntimeError(f"finding free ports on node {node} failed: {err.strip() or out.strip()}")
            answer = json.loads(out.strip().splitlines()[-1])
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


def _declared_port(spec_dict, service):
    """A port the declaration fixes for ``service`` (None: Symphony chooses)."""
    from ..spec import ExperimentSpec
    global _FIXED
    if _FIXED is None:
        _FIXED = ExperimentSpec.from_dict(spec_dict).fixed_ports()
    return _FIXED.get(service)


_FIXED = None


def _resolve(plan, launch, rule, job_dir):
    """The one resolver again, now with the nodes' addresses and ports: the plan every step runs."""
    from ..resolution.capabilities import SLURM, SLURM_CONTAINERS
    from ..spec import ExperimentSpec
    exp = ExperimentSpec.from_dict(launch["spec"])
    return build_plan(exp, rule, capabilities=SLURM_CONTAINERS if launch["containers"] else SLURM, job_dir=job_dir,
                      python=plan.python, settings=launch["settings"], shell=launch["shell"],
                      cluster_preamble=launch["cluster_preamble"], inherited_env=os.environ,
                      restart_backoff=launch["restart_backoff"], grace=launch["grace"])


def _srun(plan, process, het):
    """The step of one process: on its pod's node, sharing the pod's resources with the pod's other steps."""
    argv = ["srun", "--overlap", "--ntasks=1", "--nodes=1", f"--nodelist={process.node}", "--quiet",
            f"--job-name={process.key}", "--kill-on-bad-exit=0"]
    if het:
        argv.append(f"--het-group={process.component}")
    if process.image:
        argv += [f"--container-image={process.image}", f"--container-mounts={plan.job_dir}",
                 f"--container-workdir={process.cwd}"]
    return argv + [plan.python, "-m", "symphony.slurm.runner", plan.job_dir, process.key]


def _wait_check_ins(job_dir, steps):
    """Until every runner has recorded its process started; a step that ends first fails the launch."""
    deadline = time.monotonic() + CHECK_IN_TIMEOUT
    waiting = list(steps)
    while waiting:
        still = []
        for process, step in waiting:
            if os.path.exists(status_path_for(job_dir, process.key)):
                continue
            if step.poll() is not None:
                raise RuntimeError(f"the step of process {process.key!r} ended (exit {step.returncode}) before "
                                   f"its process started: see {job_dir}/driver.log")
            still.append((process, step))
        waiting = still
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} process(es) did not start within {CHECK_IN_TIMEOUT:g}s, e.g. "
                               f"{waiting[0][0].key!r}")
        if waiting:
            time.sleep(0.05)


def _write(path, data):
    with open(path + ".tmp", "w") as handle:
        json.dump(data, handle)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
