"""A worker: integrate f(x) = x² over the ranges its groupmaster hands out (Simpson's rule)."""

import argparse

from caraml.zmq import ZmqClient
from namespace import report

INTERVALS = 1000  # even; Simpson's rule is exact for polynomials up to degree 3


def integrate(f, low, high, intervals=INTERVALS):
    step = (high - low) / intervals
    inner = sum((4 if i % 2 else 2) * f(low + i * step) for i in range(1, intervals))
    return step / 3 * (f(low) + inner + f(high))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", type=int, required=True)
    parser.add_argument("--index", type=int, required=True)
    args = parser.parse_args()
    report(f"g{args.group}/worker-{args.index}")
    master = ZmqClient(service=f"g{args.group}-tasks")
    done = 0
    while True:
        work = master.request(("next", args.index))
        if work == "stop":
            break
        if work == "wait":
            continue
        task, part, low, high = work
        master.request(("result", args.index, task, part, integrate(lambda x: x * x, low, high)))
        done += 1
    print(f"g{args.group}/worker-{args.index}: integrated {done} ranges", flush=True)
    master.close()


if __name__ == "__main__":
    main()
