"""Every role of the RL example in one script: ``python node.py <role> [options]``."""

import argparse
import collections
import json
import os
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from caraml.zmq import ZmqClient, ZmqPull, ZmqPush, ZmqServer

BATCH = 16


def network_namespace():
    """This process's network namespace and the kernel it lives in (namespace numbers are
    unique only within one machine): ``run.py`` checks from it that groups are honoured."""
    with open("/proc/sys/kernel/random/boot_id") as handle:
        return f"{os.readlink('/proc/self/ns/net')} on kernel {handle.read().strip()}"


def replay(args):
    """Store experience from agents; hand batches to the learner until told to stop."""
    memory = collections.deque(maxlen=10_000)
    collector = ZmqPull(service="collector")
    stop = threading.Event()

    def collect():
        while not stop.is_set():
            try:
                memory.append(collector.pull())
            except Exception:  # closed at shutdown
                return
    threading.Thread(target=collect, daemon=True).start()

    def sample(request):
        if request == "stop":
            stop.set()
            return "bye"
        return random.sample(list(memory), BATCH) if len(memory) >= BATCH else None
    sampler = ZmqServer(service="sampler")
    sampler.start_loop(sample)
    stop.wait()
    time.sleep(0.2)  # let the reply to "stop" leave
    print(f"replay: stopped after {len(memory)} experiences in memory", flush=True)


def learner(args):
    """Sample, 'learn', push each parameter version to the parameter server."""
    sampler = ZmqClient(service="sampler", timeout=30)
    publish = ZmqPush(service="parameter-publish")
    weight = 0.0
    for version in range(1, args.steps + 1):
        batch = sampler.request("sample")
        while batch is None:
            time.sleep(0.05)
            batch = sampler.request("sample")
        weight = 0.9 * weight + 0.1 * sum(e["reward"] for e in batch) / len(batch)
        publish.push({"version": version, "weight": weight, "done": version == args.steps})
        time.sleep(0.05)
    sampler.request("stop")
    print(f"learner: finished {args.steps} steps, weight {weight:.4f}", flush=True)
    publish.close()


def ps(args):
    """Hold the latest parameters; serve them until every client has seen the final version."""
    latest = {"version": 0, "weight": 0.0, "done": False}
    finished_clients = set()
    all_finished = threading.Event()
    updates = ZmqPull(service="parameter-publish")

    def serve(request):
        client = request
        if latest["done"]:
            finished_clients.add(client)
            if len(finished_clients) >= args.clients:
                all_finished.set()
        return dict(latest)
    frontend = ZmqServer(service="ps-frontend")
    frontend.start_loop(serve)
    while not latest["done"]:
        latest = updates.pull()
    all_finished.wait()
    time.sleep(0.2)
    print(f"ps: served version {latest['version']} to every client", flush=True)


def agent(args):
    """Act with the latest parameters, push experience to the replay."""
    me = f"agent-{args.index}"
    ps = ZmqClient(service="ps-frontend", timeout=30)
    collector = ZmqPush(service="collector")
    params = ps.request(me)
    while not params["done"]:
        collector.push({"agent": args.index, "version": params["version"],
                        "reward": random.random() + params["weight"]})
        time.sleep(0.01)
        params = ps.request(me)
    print(f"{me}: done at version {params['version']}", flush=True)
    collector.close()


def evaluator(args):
    ps = ZmqClient(service="ps-frontend", timeout=30)
    params = ps.request("evaluator")
    evaluations = 0
    while not params["done"]:
        evaluations += 1
        time.sleep(0.1)
        params = ps.request("evaluator")
    print(f"evaluator: final score {params['weight']:.4f} after {evaluations} evaluations", flush=True)


def dashboard(args):
    """Serve training progress over HTTP; keep serving a few seconds after training ends."""
    ps = ZmqClient(service="ps-frontend", timeout=30)
    state = {"version": 0, "done": False}
    visits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({**state, "visits": len(visits) + 1}).encode()
            visits.append(time.time())
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    port = int(os.environ["SYMPH_DASHBOARD_PORT"])
    server = ThreadingHTTPServer((os.environ.get("SYMPH_BIND_HOST", "127.0.0.1"), port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while not state["done"]:
        params = ps.request("dashboard")
        state.update(version=params["version"], done=params["done"])
        time.sleep(0.1)
    time.sleep(args.linger)
    server.shutdown()
    print(f"dashboard: served {len(visits)} visits; training ended at version {state['version']}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["replay", "learner", "ps", "agent", "evaluator", "dashboard"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--linger", type=float, default=3.0, help="dashboard: seconds to keep serving after the end")
    args = parser.parse_args()
    print(f"{args.role} network namespace: {network_namespace()}", flush=True)
    globals()[args.role](args)


if __name__ == "__main__":
    main()
