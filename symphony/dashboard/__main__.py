"""``python -m symphony.dashboard``: the dashboard on its own, with the ``symphony`` command's ``-b``."""

import argparse
import sys

from . import add_arguments, main


def run(argv=None):
    parser = argparse.ArgumentParser(prog="symphony dashboard",
                                     description="Serve a live web page of every experiment.")
    parser.add_argument("-b", "--backend", default=None,
                        help="the backend selected by default (as `symphony -b`)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    from ..errors import SymphonyError
    try:
        return main(args)
    except SymphonyError as exc:
        print(f"symphony dashboard: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run())
