"""Measure Symphony as it runs once installed: with its modules' bytecode compiled.

``pip install`` compiles every module of a package it installs; an editable checkout gets its
bytecode on first import. Where ``PYTHONDONTWRITEBYTECODE`` is set (as on some CI machines), or
a source changed since its bytecode was written, every new interpreter a launch starts (the
local supervisor, each ``symphony`` command) would instead compile what it imports, 10-20 ms
more each time, which no installed Symphony pays. The benchmarks that start such
interpreters call :func:`compile_sources` first. The baselines (plain programs) are unaffected.
"""

import compileall
import os
import sys

PACKAGES = ("symphony", "caraml")


def compile_sources():
    """Write up-to-date bytecode for Symphony's packages (what ``pip install`` does), quietly."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, False
    try:
        for package in PACKAGES:
            path = os.path.join(root, package)
            if os.path.isdir(path):
                compileall.compile_dir(path, quiet=1)
    finally:
        sys.dont_write_bytecode = saved
