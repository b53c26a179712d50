"""Every example on every backend this machine has: the README's table, example × backend → ✅ and wall time.

    .venv/bin/python bench/examples_table.py [--rounds 2] [--examples hello rl] [--timeout 120]

Runs each example (examples/run.py: launch, wait for every process, check the result
from the logs, delete) on local, tmux, docker (a reachable engine, which must hold
symphony-test-base:latest; the examples image is built with DockerBuilder and removed
afterwards), Slurm (a cluster that answers: SLURM_CONF, or the one .ci/slurm-up started) and
Kubernetes (SYMPHONY_TEST_KUBE=1, which then needs a kubeconfig and
SYMPHONY_TEST_IMAGE, see tests/test_examples.py). Rounds interleave the backends, so a
busy machine slows all alike; a cell shows the best round's wall time from launch until
every process has finished, and the last line each backend's time relative to local on
the same examples (geometric mean). A failed run prints ❌ with its first error line,
a backend whose engine is there but cannot run the examples a line saying why; the exit
code is then 1. Only a backend without its engine is left out silently ("not run").
State goes to a private SYMPHONY_HOME and tmux server, removed afterwards.
"""

import argparse
import contextlib
import io
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # examples_support
from examples_support.backends import (EXAMPLES, KUBE_IMAGE, ExamplesSetupError,  # noqa: E402
                                       build_examples_image, container_location, docker_unavailable,
                                       dockerhelpers, examples_run, kube_cluster, kube_setup_error,
                                       kube_unavailable, pull_if_not_present, stop_tmux_server,
                                       tmux_unavailable)


class Backend:
    """One column: how to get its cluster and where its processes find the examples."""

    def __init__(self, name, cluster, where, prepare=None):
        self.name, self.cluster, self.where, self.prepare = name, cluster, where, prepare


def slurm_configuration():
    """The SLURM_CONF of a cluster that answers (from the environment or .ci/slurm-up's state file), or None."""
    import subprocess
    conf = os.environ.get("SLURM_CONF")
    state = os.environ.get("SYMPHONY_CI_SLURM_STATE", "/tmp/symphony-ci-slurm/state.env")
    if not conf and os.path.exists(state):
        with open(state) as handle:
            conf = next((line.strip().split("=", 1)[1] for line in handle if line.startswith("SLURM_CONF=")), None)
    if not conf or not shutil.which("sinfo"):
        return None
    try:
        answered = subprocess.run(["sinfo", "-h"], capture_output=True, timeout=10,
                                  env={**os.environ, "SLURM_CONF": conf}).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return conf if answered else None


def available_backends(tmux_server, image, docker_error):
    """(backends to run, {backend: why its engine is absent}, {backend: why it cannot run though present})."""
    from symphony import Cluster
    here = {"python": sys.executable}
    backends, absent, broken = [Backend("local", Cluster.new("local", grace=2), lambda example: here)], {}, {}
    if tmux_unavailable():
        absent["tmux"] = tmux_unavailable()
    else:
        backends.append(Backend("tmux", Cluster.new("tmux", server_name=tmux_server), lambda example: here))
    if docker_unavailable():
        absent["docker"] = docker_unavailable()
    elif docker_error:
        broken["docker"] = docker_error
    else:
        backends.append(Backend("docker", dockerhelpers.docker_cluster(),
                                lambda example: container_location(example, image)))
    slurm_conf = slurm_configuration()
    if slurm_conf is None:
        absent["slurm"] = "no Slurm cluster (.ci/slurm-up starts one; or set SLURM_CONF)"
    else:
        os.environ["SLURM_CONF"] = slurm_conf
        backends.append(Backend("slurm", Cluster.new("slurm", grace=1.0), lambda example: here))
    if kube_unavailable():
        absent["kube"] = kube_unavailable()
    elif kube_setup_error():
        broken["kube"] = kube_setup_error()
    else:
        backends.append(Backend("kube", kube_cluster(), lambda example: container_location(example, KUBE_IMAGE),
                                prepare=pull_if_not_present))
    return backends, absent, broken


def run_once(backend, example, timeout):
    """Wall time of one checked run, or the error's first line.

    What the backend prints meanwhile (tmux's "attach with:" line) is swallowed: the
    output is the table.
    """
    name = f"{example}-{uuid.uuid4().hex[:6]}"
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            _, _, elapsed = examples_run.run(example, backend.cluster, timeout=timeout, name=name,
                                             prepare=backend.prepare, **backend.where(example))
        return elapsed
    except Exception as exc:  # a failed example is a table cell, not the end of the measurement
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, choices=range(1, 101), metavar="N (1-100)")
    parser.add_argument("--examples", nargs="+", choices=EXAMPLES, default=EXAMPLES)
    parser.add_argument("--timeout", type=float, default=120, help="seconds one run may take before it counts as failed")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="symphony-bench-")
    os.environ["SYMPHONY_HOME"] = home
    tmux_server = f"symph-bench-{os.getpid()}"
    image = builder = docker_error = None
    try:
        if docker_unavailable() is None:
            try:
                builder, image = build_examples_image("symphony-examples", f"bench-{uuid.uuid4().hex[:8]}",
                                                      temp_directory=os.path.join(home, "image"))
            except ExamplesSetupError as exc:
                docker_error = str(exc)
        backends, absent, broken = available_backends(tmux_server, image, docker_error)
        results = {}  # (example, backend) -> [seconds or error]
        for _ in range(args.rounds):
            for example in args.examples:
                for backend in backends:
                    results.setdefault((example, backend.name), []).append(run_once(backend, example, args.timeout))
    finally:
        if not tmux_unavailable():
            stop_tmux_server(tmux_server)
        if builder is not None:
            builder.client.images.remove(image)
        shutil.rmtree(home, ignore_errors=True)

    names = [b.name for b in backends]
    failed = bool(broken)
    print(f"| example | {' | '.join(names)} |")
    print(f"|---|{'---|' * len(names)}")
    for example in args.examples:
        cells = []
        for name in names:
            runs = results[(example, name)]
            errors = [r for r in runs if isinstance(r, str)]
            if errors:
                failed = True
                cells.append(f"❌ {errors[0]}")
            else:
                cells.append(f"✅ {min(runs):.1f} s")
        print(f"| {example} | {' | '.join(cells)} |")
    ratios = []
    for name in names[1:]:
        pairs = [(min(results[(e, name)]), min(results[(e, "local")])) for e in args.examples
                 if not any(isinstance(r, str) for r in results[(e, name)] + results[(e, "local")])]
        if pairs:
            mean = math.exp(sum(math.log(t / local) for t, local in pairs) / len(pairs))
            ratios.append(f"{name} {mean:.2f}×")
    print(f"\nwall time, launch until every process finished, best of {args.rounds} round(s), "
          f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores")
    if ratios:
        print("relative to local (geometric mean): " + ", ".join(ratios))
    for name, reason in absent.items():
        print(f"{name}: not run ({reason})")
    for name, reason in broken.items():
        print(f"{name}: ❌ cannot run the examples: {reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
