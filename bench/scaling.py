"""Cost per process from 10 to 1,000 processes, every backend against its engine's plain baseline.

    python bench/scaling.py [--backends local,tmux,docker,kube] [--sizes 10,100,400,1000]
                            [--docker-sizes 10,50,200] [--repeat 1] [--plot scaling.png]

For local, tmux and Docker, N processes that each bind their own port are launched until
every port accepts a connection, side by side (alternating, in this one run) with the
engine's plain baseline:

* local: a ``subprocess.Popen`` loop of the same command lines (``bench/local_launch.py``);
* tmux: one chained tmux call building the same windows (``bench/tmux_launch.py``);
* Docker: raw Docker SDK calls, and ``docker-compose up -d`` of the same services
  (``bench/docker_launch.py``; Docker sizes are separate, ``--docker-sizes``).

Each backend's figures come from its own benchmark's ``measure_<backend>(n)`` when that
module has one, so the numbers are those of the per-backend benchmarks; the local one is
measured here otherwise. Also per N: ``symphony p`` (a fresh process, as a user runs it)
and, on the local backend, the supervisor's CPU while its N processes idle. Kubernetes
has no cluster here: its figure is the dry run (plan and YAML) of 1,000 and 10,000
processes (``bench/kube_plan.py``'s Surreal-shaped experiment), and its per-process cost
at 10,000 against 1,000.

Printed: one table, then each goal (met or not). ``--plot`` writes a PNG of the ratio
(Symphony / baseline) against N, one line per backend, with matplotlib when it is
installed (``pip install matplotlib``), else with the small writer at the end of this file.
"""

import argparse
import contextlib
import gc
import importlib
import inspect
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


# --- local, measured here when bench/local_launch.py has no measure_local --------------------
SERVER = ("import os, socket, sys, time; "
          "s = socket.create_server(('127.0.0.1', int(os.environ['SYMPH_S' + sys.argv[1] + '_PORT']))); "
          "time.sleep(3600)")


def wait_until_listening(ports, timeout=600):
    deadline = time.monotonic() + timeout
    pending = set(ports)
    while pending:
        for port in list(pending):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                pending.discard(port)
            except OSError:
                pass
        if pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} ports never listened")
            time.sleep(0.005)


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def popen_loop(n):
    ports = free_ports(n)
    started = time.perf_counter()
    children = [subprocess.Popen([sys.executable, "-S", "-c", SERVER, str(i)], start_new_session=True,
                                 env={**os.environ, f"SYMPH_S{i}_PORT": str(port)}, stdout=subprocess.DEVNULL)
                for i, port in enumerate(ports)]
    wait_until_listening(ports)
    elapsed = time.perf_counter() - started
    for child in children:
        child.kill()
    for child in children:
        child.wait()
    return elapsed


def cpu_seconds(pid):
    """User + system CPU of ``pid`` so far (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def symphony_p_seconds(backend, name):
    started = time.perf_counter()
    shown = subprocess.run([sys.executable, "-m", "symphony.cli", "-b", backend, "p", name],
                           capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if shown.returncode != 0:
        raise RuntimeError(f"symphony p failed: {shown.stderr.strip()}")
    return elapsed


def symphony_local(n, name):
    """(launch seconds, supervisor idle CPU %, `symphony p` seconds) of ``n`` processes."""
    from symphony import Cluster
    cluster = Cluster.new("local", grace=1)
    with contextlib.redirect_stderr(io.StringIO()):
        started = time.perf_counter()
        exp = cluster.new_experiment(name)
        for i in range(n):
            exp.new_process(f"p{i}", command=sys.executable, args=["-S", "-c", SERVER, str(i)]).binds(f"s{i}")
        plan = cluster.launch(exp)
        wait_until_listening(plan.ports.values())
        launched = time.perf_counter() - started
    try:
        supervisor = cluster.store.get_experiment("local", name)["supervisor_pid"]
        time.sleep(0.5)  # past the launch's own bookkeeping
        before, since = cpu_seconds(supervisor), time.monotonic()
        time.sleep(IDLE_SECONDS)
        idle = (cpu_seconds(supervisor) - before) / (time.monotonic() - since) * 100
        p_seconds = symphony_p_seconds("local", name)
    finally:
        with contextlib.redirect_stderr(io.StringIO()):
            cluster.delete(name)
    return launched, idle, p_seconds


_warmed = False


def measure_local_here(n, repeat=1):
    """The figures ``measure_local`` returns: medians of ``repeat`` alternating rounds."""
    global _warmed
    if not _warmed:  # a first launch imports Symphony's modules and creates its state: not measured
        symphony_local(2, f"scaling-warm-up-{os.getpid()}")
        _warmed = True
    symphony, baseline, idle, p_times = [], [], [], []
    for number in range(repeat):
        order = ("symphony", "baseline") if number % 2 == 0 else ("baseline", "symphony")
        for side in order:
            if side == "baseline":
                baseline.append(popen_loop(n))
            else:
                launched, idle_pct, p_seconds = symphony_local(n, f"scaling-{n}-{number}-{os.getpid()}")
                symphony.append(launched)
                idle.append(idle_pct)
                p_times.append(p_seconds)
    return {"symphony_s": statistics.median(symphony), "baseline_s": statistics.median(baseline),
            "idle_cpu_pct": statistics.median(idle), "p_s": statistics.median(p_times)}


# --- each backend -------------------------------------------------------------------------------
def measure(backend, n, repeat):
    """One backend's figures at ``n``: symphony_s, baseline_s, p_s and, where measured, compose_s, idle_cpu_pct."""
    if backend == "local":
        function = measure_function("local_launch", "measure_local")
        if function is None:
            return measure_local_here(n, repeat)
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
        write_png_plot(series, path)
        return "the built-in PNG writer (pip install matplotlib for labelled axes)"
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


# --- a dependency-free PNG of the same plot ---------------------------------------------------------
#: 3x5 glyphs (rows of 3 bits) for the few characters the fallback plot writes
GLYPHS = {"0": "7,5,5,5,7", "1": "2,6,2,2,7", "2": "7,1,7,4,7", "3": "7,1,7,1,7", "4": "5,5,7,1,1",
          "5": "7,4,7,1,7", "6": "7,4,7,5,7", "7": "7,1,2,2,2", "8": "7,5,7,5,7", "9": "7,5,7,1,7",
          ".": "0,0,0,0,2", "x": "0,5,2,5,0", "N": "5,7,7,7,5", "/": "1,1,2,4,4", " ": "0,0,0,0,0",
          "a": "0,6,1,7,7", "b": "4,6,5,5,6", "c": "0,7,4,4,7", "d": "1,3,5,5,3", "e": "0,7,7,4,7", "i": "2,0,2,2,2",
          "k": "4,5,6,5,5", "l": "6,2,2,2,7", "m": "0,7,7,5,5", "n": "0,6,5,5,5", "o": "0,7,5,5,7", "p": "0,7,5,7,4",
          "r": "0,6,5,4,4", "s": "0,7,6,1,7", "t": "2,7,2,2,1", "u": "0,5,5,5,7", "w": "0,5,5,7,7", "y": "5,5,7,1,7",
          "h": "4,6,5,5,5", "q": "0,7,5,7,1", "P": "6,5,6,4,4", "S": "7,4,7,1,7", "D": "6,5,5,5,6", "K": "5,6,4,6,5",
          "-": "0,0,7,0,0", "g": "0,7,5,7,7", "f": "3,2,7,2,2"}
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]


def write_png_plot(series, path, width=720, height=450):
    """Ratio against N (log scale) as an RGB PNG: axes, grey 1.0 line, one coloured line per series,
    each named in its colour at the top left, tick values in a 3x5 pixel font (scaled 2x)."""
    import math
    import struct
    import zlib
    pixels = bytearray(b"\xff" * (width * height * 3))

    def dot(x, y, colour):
        if 0 <= x < width and 0 <= y < height:
            i = (y * width + x) * 3
            pixels[i:i + 3] = bytes(colour)

    def line(x0, y0, x1, y1, colour, thick=1):
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for s in range(steps + 1):
            x, y = round(x0 + (x1 - x0) * s / steps), round(y0 + (y1 - y0) * s / steps)
            for dx in range(thick):
                for dy in range(thick):
                    dot(x + dx, y + dy, colour)

    def text(x, y, words, colour=(0, 0, 0), scale=2):
        for char in words:
            for row, bits in enumerate(GLYPHS.get(char, GLYPHS[" "]).split(",")):
                for col in range(3):
                    if int(bits) >> (2 - col) & 1:
                        for dx in range(scale):
                            for dy in range(scale):
                                dot(x + col * scale + dx, y + row * scale + dy, colour)
            x += 4 * scale

    sizes = sorted({n for points in series.values() for n, _ in points})
    ratios = [r for points in series.values() for _, r in points] + [1.0]
    low_n, high_n = math.log10(min(sizes)), math.log10(max(sizes)) + 1e-9
    low_r, high_r = min(0.9, min(ratios)), max(ratios) * 1.1
    left, right, top, bottom = 70, width - 20, 30 + 14 * len(series), height - 40

    def at(n, r):
        x = left + (math.log10(n) - low_n) / (high_n - low_n or 1) * (right - left)
        y = bottom - (r - low_r) / (high_r - low_r) * (bottom - top)
        return round(x), round(y)

    line(left, top, left, bottom, (0, 0, 0))
    line(left, bottom, right, bottom, (0, 0, 0))
    line(left, at(1, 1.0)[1], right, at(1, 1.0)[1], (170, 170, 170))
    for n in sizes:
        x = at(n, 1.0)[0]
        line(x, bottom, x, bottom + 4, (0, 0, 0))
        text(x - 4 * len(str(n)), bottom + 8, str(n))
    for step in range(5):
        r = low_r + (high_r - low_r) * step / 4
        y = at(min(sizes), r)[1]
        line(left - 4, y, left, y, (0, 0, 0))
        text(8, y - 5, f"{r:.2f}x")
    text(right - 8 * 9, bottom + 24, "N procs")
    for index, (name, points) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        text(left + 10, 10 + 14 * index, name, colour)
        placed = [at(n, r) for n, r in points]
        for (x0, y0), (x1, y1) in zip(placed, placed[1:]):
            line(x0, y0, x1, y1, colour, thick=2)
        for x, y in placed:
            for dx in range(-3, 4):
                for dy in range(-3, 4):
                    dot(x + dx, y + dy, colour)
    raw = b"".join(b"\x00" + bytes(pixels[y * width * 3:(y + 1) * width * 3]) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
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
