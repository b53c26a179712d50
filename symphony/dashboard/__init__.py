"""``symphony dashboard``: a live web page of every experiment, served on this machine.

This module is what the ``symphony`` command imports to register the verb, so it
imports nothing but argparse: ``symphony ls`` and ``symphony p`` must stay as fast as
they are, and the web stack (aiohttp) is loaded only when the dashboard runs
(:func:`main` imports :mod:`symphony.dashboard.server`).
"""

import argparse

DEFAULT_PORT = 8765


def add_arguments(parser):
    """The dashboard's options, on ``symphony dashboard`` or on ``python -m symphony.dashboard``."""
    parser.add_argument("--port", type=int, default=None,
                        help=f"port to listen on (default: {DEFAULT_PORT}, or the next free one; 0: any free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--backends", default=None,
                        help="comma-separated backends to show (default: the selected backend and every backend "
                             "under `backends:` in the config file)")
    parser.add_argument("--token", default=None,
                        help="the access token (default: the one kept in $SYMPHONY_HOME/dashboard-token, "
                             "made on first use)")
    parser.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    parser.add_argument("--interval", type=float, default=0.3, help=argparse.SUPPRESS)


def main(args):
    """Serve the dashboard until interrupted; ``args`` is the namespace :func:`add_arguments` filled
    (plus ``backend`` from ``-b``, if given). Returns the exit code."""
    from .server import serve
    return serve(args)
