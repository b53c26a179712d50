"""examples/apex, measured: throughput against the number of agents, time to the bar, and
what the messaging costs, in one run.

    python bench/apex_scaling.py                                  # local: 1, 2 and 4 agents, bar 475
    python bench/apex_scaling.py --agents 2 --backends local,tmux,docker --image symphony-examples:v1
    python bench/apex_scaling.py --bar 150 --minutes 3 --plot /tmp/apex.png

For each (backend, agents) it runs the example until the evaluator's verdict and reads
everything from the processes' logs: environment steps per second of all agents together,
learner updates per second (both over the evaluator's time to the verdict), the time to
reach the bar, and each role's CPU with caraml's share of it (the example measures the CPU
spent in caraml calls, server loops outside their handlers, and zmq's I/O threads). Rates
are relative to the first configuration in the table. ``--plot`` writes mean return against
wall time per run (matplotlib).
"""

import argparse
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, os.path.join(ROOT, "tests"))

EVALUATION = re.compile(r"evaluator:\s+([\d.]+) s\s+version\s+(\d+)\s+mean return\s+([\d.]+) over (\d+) episodes")
STEPS = re.compile(r"stopped after (\d+) steps")
UPDATES = re.compile(r"learner: stopped after (\d+) updates")
CPU = re.compile(r": cpu ([\d.]+) s, caraml ([\d.]+) s \(([\d.]+)%\)")


def run_once(backend, agents, bar, minutes, image=None):
    """One run to the verdict; returns its figures and its (seconds, mean return) curve."""
    import run as examples_run
    from symphony import Cluster
    cluster = Cluster.new(backend, **({"server_name": f"apex-bench-{os.getpid()}"} if backend == "tmux" else {}))
    where = {"python": sys.executable}
    if backend in examples_run.CONTAINER_BACKENDS:
        if not image:
            raise SystemExit(f"the {backend} backend needs --image (the examples image)")
        where = examples_run.container_location("apex", image)
    name = f"apex-bench-{backend}-{agents}"
    module = examples_run.load_example("apex")
    exp = module.build(cluster, agents=agents, bar=bar, minutes=minutes, name=name, **where)
    cluster.launch(exp, force=True)
    try:
        statuses = examples_run.wait_until_done(cluster, name, timeout=60 * minutes + 120)
        logs = {s.key: list(cluster.get_log(name, s.key)) for s in statuses}
    finally:
        cluster.delete(name)
        if backend == "tmux":
            from examples_support.backends import stop_tmux_server
            stop_tmux_server(cluster.server_name)
    verdict = module.result(logs) or {}
    seconds = verdict.get("seconds") or 1.0
    steps = sum(int(m.group(1)) for key, lines in logs.items() if "agent-" in key
                for m in map(STEPS.search, lines) if m)
    updates = next((int(m.group(1)) for m in map(UPDATES.search, logs.get("nonagent/learner", [])) if m), 0)
    shares = {}
    for key, lines in logs.items():
        for match in filter(None, map(CPU.search, lines)):
            shares[key.split("/")[-1]] = (float(match.group(1)), float(match.group(3)))
    curve = [(float(m.group(1)), float(m.group(3))) for m in map(EVALUATION.search, logs.get("evaluator", [])) if m]
    return {"backend": backend, "agents": agents, "solved": verdict.get("solved"), "seconds": seconds,
            "mean": verdict.get("mean", verdict.get("best")), "steps_per_s": steps / seconds,
            "updates_per_s": updates / seconds, "shares": shares, "curve": curve}


def table(rows):
    base = rows[0]
    lines = [f"{'backend':8} {'agents':>6} {'solved':>6} {'to bar s':>9} {'env steps/s':>12} {'x':>5} "
             f"{'updates/s':>10} {'x':>5}  caraml share of each role's CPU"]
    for row in rows:
        shares = ", ".join(f"{role} {share:.1f}% of {cpu:.1f} s" for role, (cpu, share) in sorted(row["shares"].items()))
        lines.append(f"{row['backend']:8} {row['agents']:6d} {str(row['solved']):>6} {row['seconds']:9.1f} "
                     f"{row['steps_per_s']:12.0f} {row['steps_per_s'] / max(base['steps_per_s'], 1e-9):5.2f} "
                     f"{row['updates_per_s']:10.1f} {row['updates_per_s'] / max(base['updates_per_s'], 1e-9):5.2f}  "
                     f"{shares}")
    return "\n".join(lines)


def plot(rows, path, bar):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4))
    for row in rows:
        if row["curve"]:
            xs, ys = zip(*row["curve"])
            axes.plot(xs, ys, label=f"{row['backend']}, {row['agents']} agent(s)")
    axes.axhline(bar, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("wall time (s)")
    axes.set_ylabel("mean greedy return (evaluator)")
    axes.set_title("Ape-X on CartPole-v1")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="local")
    parser.add_argument("--agents", default="1,2,4", help="agent counts, comma-separated")
    parser.add_argument("--bar", type=float, default=475.0)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--image", help="the examples image, for docker and kube")
    parser.add_argument("--plot", help="write a PNG of return against wall time here")
    args = parser.parse_args(argv)
    rows = []
    started = time.monotonic()
    for backend in args.backends.split(","):
        for agents in map(int, args.agents.split(",")):
            row = run_once(backend, agents, args.bar, args.minutes, args.image)
            rows.append(row)
            print(f"# {backend}, {agents} agent(s): solved={row['solved']} at {row['seconds']:.1f} s", flush=True)
    print(f"\nbar {args.bar:g} over 100 episodes within {args.minutes:g} min; {os.cpu_count()} cores; "
          f"whole bench {time.monotonic() - started:.0f} s")
    print(table(rows))
    if args.plot:
        plot(rows, args.plot, args.bar)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
