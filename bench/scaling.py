"""Cost per process from 10 to 1,000 processes, every backend against its engine's plain baseline.

    python bench/scaling.py [--backends local,tmux,docker,kube] [--sizes 10,100,400,1000]
                            [--docker-sizes 10,50,200] [--repeat 1] [--plot scaling.png]

For local, tmux and Docker, N processes that each bind their own port are launched until
every port accepts a connection, side by side (alternating, in this one run) with the
engine's plain baseline:

* local: a ``subprocess.Popen`` loop of the very processes Symphony plans: command lines, cwd and
  environment (``bench/local_launch.py``);
* tmux: one chained tmux call building the same windows (``bench/tmux_launch.py``);
* Docker: raw Docker SDK calls, and ``docker-compose up -d`` of the same services
  (``bench/docker_launch.py``; Docker sizes are separate, ``--docker-sizes``).

Each backend's figures come from its own benchmark's ``measure_<backend>(n)``, so the
numbers are those of the per-backend benchmarks. Also per N: ``symphony p`` (a fresh process, as a user runs it)
and, on the local backend, the supervisor's CPU while its N processes idle. Kubernetes
has no cluster here: its figure is the dry run (plan and YAML) of 1,000 and 10,000
processes (``bench/kube_plan.py``'s Surreal-shaped experiment), and its per-process cost
at 10,000 against 1,000.

Printed: one table, then each goal (met or not). ``--plot`` writes a PNG of the ratio
(Symphony / baseline) against N, one line per backend (needs matplotlib).
"""

import argparse
import gc
import importlib
import inspect
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from installed import compile_sources

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # run from a checkout without installing; sibling benchmarks

GOALS = {"local": 1.15, "tmux": 1.2, "docker": 1.1}  # Symphony / baseline, from the scaling goals
GOAL_SIZE = {"local": None, "tmux": 400, "docker": 200}  # the N each goal is stated at (None: every N)
IDLE_CPU_GOAL = 2.0       # % of one core, supervisor with 1,000 idle processes
P_GROWTH_GOAL = 2.0       # `symphony p` at 1,000 processes vs at 10
KUBE_DRY_RUN_GOAL = 3.0   # seconds, 10,000 processes
IDLE_SECONDS = 3.0        # how long the supervisor's idle CPU is sampled


def measure_function(module, name):
    """``module.name`` from a sibling benchmark, or None where it does not (yet) exist."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


# --- each backend -------------------------------------------------------------------------------
def measure(backend, n, repeat):
    """One backend's figures at ``n``: symphony_s, baseline_s, p_s and, where measured, compose_s, idle_cpu_pct."""
    if backend == "local":
        function = measure_function("local_launch", "measure_local")
        if "repeat" in inspect.signature(function).parameters:
            return function(n, repeat=repeat)
        return function(n)
    if backend == "tmux":
        return measure_function("tmux_launch", "measure_tmux")(n, repeat=repeat)
    if backend == "docker":
        return measure_function("docker_launch", "measure_docker")(n, rounds=repeat)
    raise ValueError(backend)


def why_not(backend):
    """Why ``backend`` cannot be measured on this machine, or None."""
    if backend == "tmux":
        if subprocess.run(["sh", "-c", "command -v tmux"], capture_output=True).returncode != 0:
            return "tmux is not installed"
        if measure_function("tmux_launch", "measure_tmux") is None:
            return "bench/tmux_launch.py has no measure_tmux"
    if backend == "docker":
        try:
            import docker
            docker.from_env().ping()
        except Exception as exc:  # no SDK, no engine, no permission: all mean "not here"
            return f"no Docker engine ({type(exc).__name__})"
        if measure_function("docker_launch", "measure_docker") is None:
            return "bench/docker_launch.py has no measure_docker"
    return None


def kube_dry_run(sizes):
    """{n: (plan seconds, render seconds)}: best of two, the collector run before each; CPU seconds
    (single-threaded work that waits for nothing: wall time on an idle machine, unaffected by other load)."""
    from kube_plan import surreal_like
    from symphony import Cluster
    cluster = Cluster.new("kube")
    figures = {}
    for n in sizes:
        exp = surreal_like(cluster, n)
        best_plan = best_render = float("inf")
        for _ in range(2):
            gc.collect()
            started = time.process_time()
            plan = cluster.plan(exp)
            planned = time.process_time()
            plan.render()
            best_plan = min(best_plan, planned - started)
            best_render = min(best_render, time.process_time() - planned)
            del plan
        figures[n] = (best_plan, best_render)
    return figures


# --- output ---------------------------------------------------------------------------------
def ratio(figures):
    """Symphony / baseline: the benchmark's own (median of same-round ratios) when it gives one."""
    return figures.get("ratio") or figures["symphony_s"] / figures["baseline_s"]


def table(results):
    lines = ["| backend | N | baseline (s) | symphony (s) | ratio | compose (s) | symphony / compose "
             "| `symphony p` (s) | idle CPU (% of a core) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for backend, rows in results.items():
        for n, f in rows:
            compose, idle = f.get("compose_s"), f.get("idle_cpu_pct")
            compose_s = "-" if compose is None else f"{compose:.3f}"
            versus_compose = "-" if compose is None else f"{f['symphony_s'] / compose:.2f}×"
            lines.append(f"| {backend} | {n} | {f['baseline_s']:.3f} | {f['symphony_s']:.3f} "
                         f"| {ratio(f):.2f}× | {compose_s} | {versus_compose} "
                         f"| {f['p_s']:.3f} | {'-' if idle is None else f'{idle:.2f}'} |")
    return "\n".join(lines)


def goals(results, kube):
    """(goal, measured, met) for every goal this run's sizes can say something about."""
    checks = []
    for backend, rows in results.items():
        by_n = dict(rows)
        limit, at = GOALS[backend], GOAL_SIZE[backend]
        for n, f in rows:
            if at is None or n == at:
                measured = ratio(f)
                checks.append((f"{backend} at {n}: symphony / baseline <= {limit}", f"{measured:.2f}",
                               measured <= limit))
        if backend == "docker":
            for n, f in rows:
                if f.get("compose_s"):
                    versus = f["symphony_s"] / f["compose_s"]
                    checks.append((f"docker at {n}: no slower than docker-compose", f"{versus:.2f}", versus <= 1.0))
        if backend == "local" and 1000 in by_n and by_n[1000].get("idle_cpu_pct") is not None:
            idle = by_n[1000]["idle_cpu_pct"]
            checks.append((f"local: supervisor idle CPU at 1000 <= {IDLE_CPU_GOAL}%", f"{idle:.2f}%",
                           idle <= IDLE_CPU_GOAL))
        if backend == "local" and 10 in by_n and 1000 in by_n:
            growth = by_n[1000]["p_s"] / by_n[10]["p_s"]
            checks.append((f"local: symphony p at 1000 <= {P_GROWTH_GOAL}x at 10", f"{growth:.2f}x",
                           growth <= P_GROWTH_GOAL))
    if kube and max(kube) >= 10000:
        plan, render = kube[10000]
        checks.append((f"kube: dry run (plan + YAML) of 10000 <= {KUBE_DRY_RUN_GOAL} s", f"{plan + render:.2f} s",
                       plan + render <= KUBE_DRY_RUN_GOAL))
    return checks


def plot(results, path):
    series = {}
    for backend, rows in results.items():
        series[f"{backend} / {BASELINES[backend]}"] = [(n, ratio(f)) for n, f in rows]
        compose = [(n, f["symphony_s"] / f["compose_s"]) for n, f in rows if f.get("compose_s")]
        if compose:
            series["docker / compose"] = compose
    series = {name: points for name, points in series.items() if points}
    if not series:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install matplotlib") from None
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.set_xscale("log")
    for name, points in series.items():
        axes.plot([n for n, _ in points], [r for _, r in points], marker="o", label=name)
    sizes = sorted({n for points in series.values() for n, _ in points})
    axes.set_xticks(sizes, [str(n) for n in sizes])
    axes.minorticks_off()
    for backend, goal in GOALS.items():
        if backend in results:
            axes.axhline(goal, linestyle=":", linewidth=1, color="grey")
            axes.text(0.01, goal, f"{backend} goal {goal}", fontsize=7, color="grey", va="bottom",
                      transform=axes.get_yaxis_transform())
    axes.axhline(1.0, linewidth=0.8, color="black")
    axes.set_xlabel("processes launched (N)")
    axes.set_ylabel("Symphony time / baseline time")
    axes.set_title("Launch until every port accepts: cost relative to the plain engine")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return "matplotlib"


BASELINES = {"local": "Popen loop", "tmux": "chained tmux", "docker": "raw SDK"}


def main():
    compile_sources()  # measured as installed: bytecode compiled (see bench/installed.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="local,tmux,docker,kube",
                        help="comma-separated, of local, tmux, docker, kube")
    parser.add_argument("--sizes", default="10,100,400,1000", help="process counts for local and tmux")
    parser.add_argument("--docker-sizes", default="10,50,200", help="container counts for Docker")
    parser.add_argument("--kube-sizes", default="1000,10000", help="processes of the Kubernetes dry run")
    parser.add_argument("--repeat", type=int, default=1, help="alternating rounds per size (medians or best)")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of the ratio against N")
    args = parser.parse_args()
    os.environ.setdefault("SYMPHONY_HOME", tempfile.mkdtemp(prefix="symphony-scaling-"))
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"local", "tmux", "docker", "kube"}
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(sorted(unknown))}: use local, tmux, docker, kube")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results, skipped = {}, []
    for backend in (b for b in backends if b != "kube"):
        reason = why_not(backend)
        if reason:
            skipped.append(f"{backend}: {reason}")
            continue
        sizes = args.docker_sizes if backend == "docker" else args.sizes
        results[backend] = []
        for n in (int(size) for size in sizes.split(",")):
            figures = measure(backend, n, args.repeat)
            results[backend].append((n, figures))
            print(f"{backend} N={n}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()
                                                   if isinstance(v, float)), file=sys.stderr, flush=True)
    kube = kube_dry_run([int(n) for n in args.kube_sizes.split(",")]) if "kube" in backends else {}

    if results:
        print(table(results))
    if kube:
        print("\n| Kubernetes dry run | plan (CPU s) | YAML (CPU s) | total (CPU s) | per process (µs) |")
        print("|---:|---:|---:|---:|---:|")
        for n, (plan, render) in kube.items():
            print(f"| {n} processes | {plan:.3f} | {render:.3f} | {plan + render:.3f} "
                  f"| {(plan + render) / n * 1e6:.0f} |")
        if len(kube) > 1:
            small, large = min(kube), max(kube)
            per = [sum(kube[n]) / n for n in (small, large)]
            print(f"\nper-process cost at {large} vs {small}: {per[1] / per[0]:.2f}x (1.00 = linear)")
    print()
    for goal, measured, met in goals(results, kube):
        print(f"{'met    ' if met else 'NOT met'}  {goal}: {measured}")
    for note in skipped:
        print(f"skipped  {note}")
    if args.plot and results:
        how = plot(results, args.plot)
        print(f"plot: {args.plot} ({how})" if how else "plot: nothing to draw")
    print(f"\n{os.cpu_count()} cores; load average {load} at the start, "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; python {sys.version.split()[0]}; "
          f"{args.repeat} round(s) per size, sides alternating")


if __name__ == "__main__":
    main()
