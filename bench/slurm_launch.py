"""Launch of 30 processes on 3 Slurm nodes: Symphony vs a hand-written sbatch script, and ``symphony p`` vs squeue.

Run from the repository root against a real Slurm cluster (``.ci/slurm-up`` starts one on this
machine; its ``state.env`` gives ``SLURM_CONF``):

    python bench/slurm_launch.py [--processes 30] [--nodes 3] [--rounds 3] [--p-repeat 5]

Without an answering Slurm controller it prints why and exits 0.

Both sides run the same program per process, a Python server that binds a TCP port on every
interface and then *checks in* (writes a file naming itself, its node and port), on the same
number of nodes (``--nodes=N`` for both), and are timed from the call until every process has
checked in:

* **symphony**: ``SlurmCluster.launch(exp)``: all a user waits for (planning, the checks
  against the cluster, ``sbatch``, the driver resolving addresses on the nodes, one
  ``srun`` step per process with its runner); process ``p<i>`` binds service ``s<i>`` and
  reads its port from ``SYMPH_S<i>_PORT``;
* **sbatch**: the floor: one ``sbatch`` of a hand-written script that starts the same N
  ``srun --overlap`` steps over the job's nodes (round robin), each server binding port 0.

Then, while Symphony's job runs: ``symphony -b slurm p`` (the command, a fresh process, as a user
runs it) against ``squeue`` itself, alternately ``--p-repeat`` times per round.

Rounds alternate which side goes first; each job is removed (and waited for) between
launches, untimed. Printed: every round's times, then the median of each and the median of
the per-round ratios. Targets: launch <= 1.2x, ``symphony p`` <= 1.5x squeue.
"""

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from installed import compile_sources

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

LAUNCH_TARGET, P_TARGET = 1.2, 1.5
STATE_FILE = "/tmp/symphony-ci-slurm/state.env"

#: every process's program (both sides): bind, then check in with node and port; argv: check-in file, and the
#: port or the variable holding it
SERVER = ("import os, socket, sys, time\n"
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('0.0.0.0', int(os.environ.get(sys.argv[2], sys.argv[2])))); s.listen()\n"
          "tmp = sys.argv[1] + '.tmp'\n"
          "open(tmp, 'w').write('%s %d' % (os.environ.get('SLURMD_NODENAME'), s.getsockname()[1]))\n"
          "os.rename(tmp, sys.argv[1])\n"
          "time.sleep(3600)\n")


def why_not_live():
    if not os.environ.get("SLURM_CONF") and os.path.exists(STATE_FILE):
        for line in open(STATE_FILE):
            if line.startswith("SLURM_CONF="):
                os.environ["SLURM_CONF"] = line.strip().split("=", 1)[1]
    if shutil.which("sbatch") is None:
        return "Slurm's client commands are not on PATH"
    done = subprocess.run(["sinfo", "-h", "-o", "%D"], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return f"the Slurm controller does not answer: {done.stderr.strip()}"
    return None


def wait_checked_in(directory, count, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for name in os.listdir(directory) if not name.endswith(".tmp")) >= count:
            return
        time.sleep(0.01)
    raise RuntimeError(f"only {len(os.listdir(directory))} of {count} processes checked in within {timeout:g}s")


def job_gone(job_id, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-j", str(job_id), "-o", "%T"], capture_output=True, text=True).stdout
        if not out.strip():
            return
        time.sleep(0.2)


def symphony_round(cluster, name, processes, checkin):
    exp = cluster.new_experiment(name)
    for i in range(processes):
        process = exp.new_process(f"p{i}", command=sys.executable,
                                  args=["-S", "-c", SERVER, os.path.join(checkin, f"p{i}"), f"SYMPH_S{i}_PORT"])
        process.binds(f"s{i}")
    start = time.perf_counter()
    cluster.launch(exp)
    try:
        wait_checked_in(checkin, processes)
    except RuntimeError:
        for i in range(processes):
            if not os.path.exists(os.path.join(checkin, f"p{i}")):
                print(f"p{i} did not check in; its log ends: {list(cluster.get_log(name, f'p{i}', tail=3))}")
        raise
    return time.perf_counter() - start


def sbatch_round(workdir, processes, nodes, checkin):
    script = os.path.join(workdir, "baseline.sh")
    with open(script, "w") as handle:
        handle.write(f"""#!/bin/bash
#SBATCH --job-name=bench-baseline
#SBATCH --ntasks={processes}
#SBATCH --nodes={nodes}
#SBATCH --output={workdir}/baseline.log
nodes=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))
for i in $(seq 0 {processes - 1}); do
  srun --overlap --ntasks=1 --nodes=1 --nodelist=${{nodes[i % ${{#nodes[@]}}]}} --quiet \\
    {shlex.quote(sys.executable)} -S -c {shlex.quote(SERVER)} {checkin}/p$i 0 &
done
wait
""")
    start = time.perf_counter()
    job_id = subprocess.run(["sbatch", "--parsable", script], capture_output=True, text=True,
                            check=True).stdout.strip().split(";")[0]
    wait_checked_in(checkin, processes)
    return time.perf_counter() - start, job_id


def timed(argv, env):
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed: {done.stderr.strip()}")
    return elapsed, done.stdout


def main():
    compile_sources()  # measured as installed: bytecode compiled (see bench/installed.py)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=30)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--p-repeat", type=int, default=5)
    args = parser.parse_args()
    reason = why_not_live()
    if reason:
        print(f"skipped: {reason}")
        return 0
    home = tempfile.mkdtemp(prefix="symphony-bench-slurm-", dir=os.environ.get("SYMPHONY_BENCH_DIR"))
    os.environ["SYMPHONY_HOME"] = home  # `symphony p` below finds the experiment in the default workdir
    from symphony import Cluster
    cluster = Cluster.new("slurm", sbatch_args=[f"--nodes={args.nodes}"], grace=1.0)
    symphony_cli = shutil.which("symphony", path=os.path.dirname(sys.executable)) or "symphony"
    env = dict(os.environ)
    # The command as installed: with its modules' bytecode written once (a checkout under edit, or
    # PYTHONDONTWRITEBYTECODE, would otherwise compile them on every call and measure the compiler).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "symphony")], env={
        k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}, check=True)
    load_before = os.getloadavg()
    rows, p_rows = [], []
    print(f"{args.processes} processes on {args.nodes} nodes, {args.rounds} rounds; load before: "
          f"{' '.join(f'{x:.1f}' for x in load_before)} on {os.cpu_count()} CPUs")
    try:
        for round_index in range(args.rounds):
            times = {}
            order = ("symphony", "sbatch") if round_index % 2 == 0 else ("sbatch", "symphony")
            for side in order:
                checkin = tempfile.mkdtemp(prefix=f"{side}-", dir=home)
                if side == "symphony":
                    name = f"bench-{round_index}"
                    times[side] = symphony_round(cluster, name, args.processes, checkin)
                    p_times, q_times = [], []
                    for _ in range(args.p_repeat):
                        elapsed, out = timed([symphony_cli, "-b", "slurm", "p", name], env)
                        assert out.count("running") >= args.processes, out
                        p_times.append(elapsed)
                        q_times.append(timed(["squeue"], env)[0])
                    p_rows.append((statistics.median(p_times), statistics.median(q_times)))
                    cluster.delete(name)
                else:
                    times[side], job_id = sbatch_round(home, args.processes, args.nodes, checkin)
                    subprocess.run(["scancel", job_id], check=True)
                    job_gone(job_id)
            rows.append((times["symphony"], times["sbatch"]))
            print(f"round {round_index + 1} ({order[0]} first): symphony {times['symphony']:.2f} s, "
                  f"sbatch {times['sbatch']:.2f} s, ratio {times['symphony'] / times['sbatch']:.2f}; "
                  f"symphony p {p_rows[-1][0] * 1000:.0f} ms, squeue {p_rows[-1][1] * 1000:.0f} ms", flush=True)
    finally:
        for name in cluster.list_experiments():
            cluster.delete(name)
        shutil.rmtree(home, ignore_errors=True)
    launch_ratio = statistics.median(s / b for s, b in rows)
    p_ratio = statistics.median(p / q for p, q in p_rows)
    print()
    print(f"{'measure':<40} {'symphony':>10} {'baseline':>10} {'ratio':>7} {'target':>7}")
    print(f"{f'launch {args.processes} processes, {args.nodes} nodes (s)':<40} "
          f"{statistics.median(s for s, _ in rows):>10.2f} {statistics.median(b for _, b in rows):>10.2f} "
          f"{launch_ratio:>7.2f} {LAUNCH_TARGET:>7.1f}")
    print(f"{'symphony p vs squeue (ms)':<40} {statistics.median(p for p, _ in p_rows) * 1000:>10.0f} "
          f"{statistics.median(q for _, q in p_rows) * 1000:>10.0f} {p_ratio:>7.2f} {P_TARGET:>7.1f}")
    print(f"load after: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
