"""The processes of the Ape-X example: ``python roles.py <role> [options]``.

    agent      steps CartPole with the latest parameters, explores with its own epsilon,
               pushes n-step transitions with their initial priorities   -> replay (push/pull)
    replay     prioritized replay: stores what agents push, serves the learner batches and
               takes back their new priorities                           <- learner (request/reply)
    learner    double-DQN updates on sampled batches; publishes each new parameter version
                                                                         -> ps (pub/sub)
    ps         the parameter server: republishes the newest version to agents and evaluator
               (again every second, so a restarted subscriber is served at once), and relays
               the evaluator's stop to everyone                          -> agents, evaluator (pub/sub)
    evaluator  plays 100 greedy episodes with one fixed version at a time; its mean is the
               score; writes the event log, serves the status page, and ends the run once the
               bar is reached or the time is up

Every address comes from the ``SYMPH_*`` variables Symphony sets, through caraml's
``service=`` names: nothing here knows which backend runs it.
"""

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from caraml.zmq import ZmqClient, ZmqPub, ZmqPull, ZmqPush, ZmqServer, ZmqSub, ZmqTimeoutError

import dqn

GAMMA = 0.99
N_STEP = 3
#: transitions an agent sends per message
CHUNK = 64
BATCH = 64
#: batches per request to the replay (fewer round trips per update)
BATCHES_PER_REQUEST = 4
#: the learner waits for this many transitions before its first update
WARMUP = 1000
#: how many transitions agents may run ahead of the replay's samples-per-insert ratio
RATE_SLACK = 2000
TARGET_EVERY = 250
PUBLISH_EVERY = 25
EPISODES = 100
#: how far below the bar the first episodes of an evaluation may be before it is abandoned
SCREEN_EPISODES, SCREEN_FRACTION = 10, 0.8


def log(role, text):
    print(f"{role}: {text}", flush=True)


def network_namespace():
    """This process's network namespace and kernel (examples/run.py checks groups from it)."""
    with open("/proc/sys/kernel/random/boot_id") as handle:
        return f"{os.readlink('/proc/self/ns/net')} on kernel {handle.read().strip()}"


def make_env(seed):
    import gymnasium
    env = gymnasium.make("CartPole-v1")
    env.reset(seed=seed)
    return env


class CaramlMeter:
    """The CPU this process spends in caraml (serializing, zmq calls, its I/O threads), so the
    run can say what share of each process the messaging costs.

    Calls made through :meth:`call` count their thread's CPU time; a server loop's thread
    counts everything but the handler (:meth:`handler`); zmq's own I/O threads (named
    ``ZMQbg/...``) count whole, read from /proc.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.in_calls = 0.0
        self.server_threads = {}  # thread id -> [thread CPU at the last handler exit, CPU in handlers]

    def call(self, function, *args, **kwargs):
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent = time.thread_time() - start
            with self.lock:
                self.in_calls += spent

    def handler(self, function):
        def measured(request):
            start = time.thread_time()
            try:
                return function(request)
            finally:
                end = time.thread_time()
                with self.lock:
                    record = self.server_threads.setdefault(threading.get_ident(), [0.0, 0.0])
                    record[0] = end
                    record[1] += end - start
        return measured

    @staticmethod
    def zmq_threads_cpu():
        total = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/comm") as handle:
                    if not handle.read().startswith("ZMQbg"):
                        continue
                with open(f"/proc/self/task/{task}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
            except OSError:
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def report(self):
        with self.lock:
            servers = sum(last - handlers for last, handlers in self.server_threads.values())
            caraml = self.in_calls + servers + self.zmq_threads_cpu()
        total = time.process_time()
        return f"cpu {total:.1f} s, caraml {caraml:.2f} s ({100 * caraml / max(total, 1e-9):.1f}%)"


METER = CaramlMeter()


def drain(sub, on_params, on_stop):
    """Handle every message waiting on ``sub`` without blocking."""
    while True:
        try:
            topic, data = METER.call(sub.recv)
        except ZmqTimeoutError:
            return
        if topic == "stop":
            on_stop(data)
        elif topic == "params":
            on_params(data)


# ---------------------------------------------------------------- agent

def agent(args):
    epsilon = dqn.epsilon_for(args.index, args.agents)
    log(args.name, f"epsilon {epsilon:.4f}")
    rng = np.random.default_rng(1000 + args.index + int(time.time()))
    env = make_env(int(rng.integers(1 << 30)))
    obs, _ = env.reset()
    collector = ZmqPush(service="experience", hwm=4, timeout=1.0)
    sub = ZmqSub(service="parameters", topic=["params", "stop"], timeout=0)
    state = {"params": None, "version": -1, "stop": None}

    def on_params(data):
        state["params"], state["version"] = data["params"], data["version"]

    def on_stop(data):
        state["stop"] = data

    while state["params"] is None and state["stop"] is None:  # act only with learned parameters
        drain(sub, on_params, on_stop)
        time.sleep(0.05)
    nstep = dqn.NStep(N_STEP, GAMMA)
    pending, steps, episodes, ret, returns = [], 0, 0, 0.0, []
    while state["stop"] is None:
        params = state["params"]
        if rng.random() < epsilon:
            action = int(rng.integers(dqn.ACTIONS))
        else:
            action = dqn.greedy_action(params, obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        steps += 1
        ret += reward
        pending += nstep.add(obs, action, reward, next_obs, terminated, truncated)
        if terminated or truncated:
            episodes += 1
            returns.append(ret)
            ret = 0.0
            next_obs, _ = env.reset()
        obs = next_obs
        if len(pending) >= CHUNK:
            chunk = transitions(pending)
            # Ape-X: the agent gives each transition its first priority, its TD error under
            # the agent's own copy of the parameters
            chunk["priority"] = np.abs(dqn.td_errors(params, params, chunk)).astype(np.float32)
            chunk["agent"] = args.index
            chunk["steps"] = steps
            while state["stop"] is None:  # the replay may hold agents back: keep listening meanwhile
                try:
                    METER.call(collector.push, chunk)
                    break
                except ZmqTimeoutError:
                    drain(sub, on_params, on_stop)
            pending = []
            drain(sub, on_params, on_stop)
            if episodes and episodes % 20 == 0 and returns:
                log(args.name, f"{steps} steps, {episodes} episodes, mean return {np.mean(returns[-20:]):.1f} "
                               f"(version {state['version']})")
                returns = []
    log(args.name, f"stopped after {steps} steps: {state['stop'].get('why', '')}")
    log(args.name, METER.report())


def transitions(pending):
    return {
        "obs": np.asarray([t[0] for t in pending], np.float32),
        "action": np.asarray([t[1] for t in pending], np.int64),
        "reward": np.asarray([t[2] for t in pending], np.float32),
        "next_obs": np.asarray([t[3] for t in pending], np.float32),
        "discount": np.asarray([t[4] for t in pending], np.float32),
    }


# ---------------------------------------------------------------- replay

def replay(args):
    """Prioritized replay with a rate limiter: it takes in new transitions only while they stay
    within ``--samples-per-insert`` of what the learner samples (plus a slack), as Reverb's rate
    limiters do. When agents outrun the learner their pushes wait (zmq's queue fills up), so on
    a small machine the CPU goes to learning instead of to experience nobody will sample."""
    memory = dqn.PrioritizedReplay(args.capacity, seed=int(time.time()))
    lock = threading.Condition()
    counts = {"received": 0, "sampled": 0, "held": 0.0}
    stop = threading.Event()
    collector = ZmqPull(service="experience", hwm=4)

    def may_take():
        return counts["received"] <= WARMUP + RATE_SLACK + counts["sampled"] / args.samples_per_insert

    def collect():
        while not stop.is_set():
            with lock:
                if not may_take():
                    started = time.monotonic()
                    lock.wait_for(lambda: may_take() or stop.is_set(), timeout=1.0)
                    counts["held"] += time.monotonic() - started
                    continue
            try:
                chunk = METER.call(collector.pull)
            except Exception:  # the socket closes at the end
                return
            with lock:
                counts["received"] += memory.add(chunk)

    threading.Thread(target=collect, daemon=True).start()

    def serve(request):
        if request.get("stop"):
            stop.set()
            with lock:
                lock.notify_all()
            return {"stopped": True}
        with lock:
            if request.get("idx") is not None:
                memory.update(request["idx"], request["errors"])
            if memory.size < WARMUP:
                return {"size": memory.size}
            batches = [memory.sample(BATCH) for _ in range(request.get("batches", 1))]
            counts["sampled"] += BATCH * len(batches)
            lock.notify_all()
            return {"size": memory.size, "received": counts["received"], "batches": batches}

    server = ZmqServer(service="replay")
    server.start_loop(METER.handler(serve))
    while not stop.wait(10):
        with lock:
            log("replay", f"holds {memory.size}, received {counts['received']}, sampled {counts['sampled']}, "
                          f"agents held back {counts['held']:.0f} s")
    log("replay", f"stopped after receiving {counts['received']} transitions "
                  f"(agents held back {counts['held']:.0f} s)")
    log("replay", METER.report())


# ---------------------------------------------------------------- learner

def learner(args):
    params = dqn.initial_parameters(seed=int(time.time()))
    target = {key: value.copy() for key, value in params.items()}
    optimizer = dqn.Adam(params, lr=args.lr)
    sampler = ZmqClient(service="replay", timeout=10)
    publisher = ZmqPub(service="learner-parameters")
    stops = ZmqSub(service="parameters", topic="stop", timeout=0)
    version, updates, feedback, started = 0, 0, {}, time.monotonic()
    stop = None

    def on_stop(data):
        nonlocal stop
        stop = data

    def publish():
        METER.call(publisher.pub, "params", {"version": version, "updates": updates,
                                             "params": {key: value.copy() for key, value in params.items()}})

    publish()
    last_report = time.monotonic()
    while stop is None:
        try:
            reply = METER.call(sampler.request, {"batches": BATCHES_PER_REQUEST, **feedback})
        except ZmqTimeoutError:
            log("learner", "no answer from the replay in 10 s: asking again")
            feedback = {}
            drain(stops, lambda _: None, on_stop)
            continue
        feedback = {}
        if "batches" not in reply:
            time.sleep(0.2)
            publish()
            drain(stops, lambda _: None, on_stop)
            continue
        all_idx, all_errors = [], []
        for idx, weights, batch in reply["batches"]:
            errors = dqn.train_step(params, target, optimizer, batch, weights)
            all_idx.append(idx)
            all_errors.append(errors)
            updates += 1
            if updates % TARGET_EVERY == 0:
                target = {key: value.copy() for key, value in params.items()}
            if updates % PUBLISH_EVERY == 0:
                version += 1
                publish()
        feedback = {"idx": np.concatenate(all_idx), "errors": np.concatenate(all_errors)}
        drain(stops, lambda _: None, on_stop)
        if time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            log("learner", f"{updates} updates ({updates / (last_report - started):.0f}/s), version {version}, "
                           f"replay holds {reply['size']}")
    try:
        sampler.request({"stop": True})
    except ZmqTimeoutError:
        pass
    log("learner", f"stopped after {updates} updates: {stop.get('why', '')}")
    log("learner", METER.report())


# ---------------------------------------------------------------- parameter server

def ps(args):
    incoming = ZmqSub(service="learner-parameters", topic="params", timeout=1.0)
    outgoing = ZmqPub(service="parameters")
    control = ZmqServer(service="control")
    latest = {"data": None}
    stop = threading.Event()

    def serve(request):
        outgoing_requests.append(request)
        stop.set()
        return {"ok": True}

    outgoing_requests = []
    control.start_loop(METER.handler(serve))
    last_sent = 0.0
    served = 0
    while not stop.is_set():
        try:
            _, data = METER.call(incoming.recv)
            latest["data"] = data
        except ZmqTimeoutError:
            pass
        if latest["data"] is not None and (served != latest["data"]["version"] or time.monotonic() - last_sent >= 1):
            METER.call(outgoing.pub, "params", latest["data"])
            served, last_sent = latest["data"]["version"], time.monotonic()
    why = outgoing_requests[0]
    # say it a few times: a subscriber restarting right now would miss a single message
    for _ in range(10):
        outgoing.pub("stop", why)
        time.sleep(0.3)
    log("ps", f"stopped at version {served}: {why.get('why', '')}")
    log("ps", METER.report())


# ---------------------------------------------------------------- evaluator

class Status:
    """What the status page and the event log show, updated by the evaluator."""

    def __init__(self, bar, minutes):
        self.started = time.time()
        self.bar, self.minutes = bar, minutes
        self.history = []  # (seconds, version, mean, episodes)
        self.best = None
        self.solved = None
        self.lock = threading.Lock()

    def as_dict(self):
        with self.lock:
            return {"elapsed": round(time.time() - self.started, 1), "bar": self.bar,
                    "minutes": self.minutes, "best": self.best, "solved": self.solved,
                    "evaluations": self.history[-20:]}


def serve_status(status):
    """The page ``symphony visit status`` opens: the run's progress as HTML, or JSON at /json."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            data = status.as_dict()
            if self.path.startswith("/json"):
                body, kind = json.dumps(data).encode(), "application/json"
            else:
                rows = "".join(f"<tr><td>{s:.0f}</td><td>{v}</td><td>{m:.1f}</td><td>{n}</td></tr>"
                               for s, v, m, n in reversed(data["evaluations"]))
                body = (f"<html><head><title>apex</title><meta http-equiv='refresh' content='5'></head><body>"
                        f"<h1>Ape-X CartPole</h1><p>elapsed {data['elapsed']} s, bar {data['bar']}, "
                        f"best {data['best']}, solved {data['solved']}</p><table border=1>"
                        f"<tr><th>s</th><th>version</th><th>mean return</th><th>episodes</th></tr>{rows}"
                        f"</table></body></html>").encode()
                kind = "text/html"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    host = os.environ.get("SYMPH_BIND_HOST", "127.0.0.1")
    server = ThreadingHTTPServer((host, int(os.environ["SYMPH_STATUS_PORT"])), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


class EventLog:
    """Scalars TensorBoard reads (tensorboardX's event files) under ``logdir``; nothing if
    tensorboardX is not installed (said once)."""

    def __init__(self, logdir):
        self.writer = None
        if not logdir:
            return
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            log("evaluator", "tensorboardX is not installed: no event log")
            return
        self.writer = SummaryWriter(logdir)
        log("evaluator", f"event log in {logdir}")

    def scalar(self, tag, value, step, wall):
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step, walltime=wall)
            self.writer.flush()


def evaluate(params, env, bar, episodes=EPISODES):
    """Mean greedy return of ``params`` over ``episodes`` episodes, or over fewer when the first
    ones show it cannot reach ``bar`` (then the mean says how far it was)."""
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset()
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(dqn.greedy_action(params, obs))
            total += reward
            done = terminated or truncated
        returns.append(total)
        played = len(returns)
        best_possible = (sum(returns) + 500.0 * (episodes - played)) / episodes
        if best_possible < bar or (played == SCREEN_EPISODES and np.mean(returns) < SCREEN_FRACTION * bar):
            break
    return float(np.mean(returns)), len(returns)


def evaluator(args):
    status = Status(args.bar, args.minutes)
    serve_status(status)
    events = EventLog(args.logdir)
    env = make_env(seed=12345)
    sub = ZmqSub(service="parameters", topic="params", timeout=0)
    control = ZmqClient(service="control", timeout=30)
    state = {"data": None}
    deadline = status.started + 60 * args.minutes
    result, last_logged = None, -5.0
    # one evaluation per second at most: the learner needs the CPU more than a score per version
    while time.time() < deadline:
        drain(sub, lambda data: state.update(data=data), lambda _: None)
        if state["data"] is None:
            time.sleep(0.1)
            continue
        data = state["data"]
        began = time.monotonic()
        mean, played = evaluate(data["params"], env, args.bar)
        seconds = time.time() - status.started
        with status.lock:
            status.history.append((seconds, data["version"], mean, played))
            if played == EPISODES and (status.best is None or mean > status.best):
                status.best = round(mean, 1)
        events.scalar("evaluation/mean_return", mean, data["version"], time.time())
        events.scalar("evaluation/episodes", played, data["version"], time.time())
        if played == EPISODES or seconds - last_logged >= 5:  # every full evaluation, else one line per 5 s
            last_logged = seconds
            log("evaluator", f"{seconds:6.1f} s  version {data['version']:5d}  mean return {mean:6.1f} "
                             f"over {played} episodes")
        if played == EPISODES and mean >= args.bar:
            result = {"solved": True, "mean": round(mean, 1), "seconds": round(seconds, 1),
                      "version": data["version"], "updates": data["updates"]}
            break
        time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
    if result is None:
        result = {"solved": False, "best": status.best, "seconds": round(time.time() - status.started, 1)}
    with status.lock:
        status.solved = result["solved"]
    why = (f"mean return {result['mean']} over {EPISODES} episodes at {result['seconds']} s"
           if result["solved"] else f"bar {args.bar} not reached in {args.minutes} min (best {result['best']})")
    control.request({"why": why, **result})
    log("evaluator", ("solved: " if result["solved"] else "not solved: ") + why)
    log("evaluator", METER.report())
    log("evaluator", "result " + json.dumps(result))
    time.sleep(args.linger)  # the status page stays up a moment for whoever is looking
    sys.exit(0 if result["solved"] else 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["agent", "replay", "learner", "ps", "evaluator"])
    parser.add_argument("--index", type=int, default=0, help="agent: which agent this is")
    parser.add_argument("--agents", type=int, default=1, help="agent: how many agents there are")
    parser.add_argument("--capacity", type=int, default=100_000, help="replay: transitions kept")
    parser.add_argument("--samples-per-insert", type=float, default=2.0,
                        help="replay: how often each transition is sampled, on average, before agents wait")
    parser.add_argument("--lr", type=float, default=5e-4, help="learner: Adam's learning rate")
    parser.add_argument("--bar", type=float, default=475.0, help="evaluator: mean return that ends the run")
    parser.add_argument("--minutes", type=float, default=10.0, help="evaluator: time allowed")
    parser.add_argument("--logdir", default="", help="evaluator: where the TensorBoard event log goes")
    parser.add_argument("--linger", type=float, default=2.0, help="evaluator: seconds the status page stays up")
    args = parser.parse_args(argv)
    args.name = os.environ.get("SYMPH_PROCESS", args.role)
    log(args.name, f"network namespace: {network_namespace()}")
    {"agent": agent, "replay": replay, "learner": learner, "ps": ps, "evaluator": evaluator}[args.role](args)


if __name__ == "__main__":
    main()
