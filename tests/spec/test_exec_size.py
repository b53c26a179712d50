"""The exec size check gives the same answer whether the variables every process shares are
measured once (``SharedEnv``) or with each process's whole environment."""

import os
import struct


from symphony.errors import SpecError
from symphony.resolution.limits import EXEC_HEADROOM, MAX_ARG_STRLEN, SharedEnv, check_exec_size

POINTER = struct.calcsize("P")


def refusal(argv, own, shared=None):
    try:
        if shared is None:
            check_exec_size("p", argv, own)
        else:
            check_exec_size("p", argv, own, SharedEnv(shared))
    except SpecError as exc:
        return str(exc)
    return None


def arguments_of_size(size):
    """An argv whose strings, their NULs and their pointers take ``size`` bytes (each under MAX_ARG_STRLEN)."""
    argv = []
    while size > 0:
        length = min(100_000, size - 1 - POINTER)  # the string, its NUL, its pointer
        argv.append("a" * length)
        size -= length + 1 + POINTER
    assert size == 0
    return argv


def test_the_shared_part_counts_as_if_every_variable_were_measured_with_the_process():
    limit = os.sysconf("SC_ARG_MAX") - EXEC_HEADROOM
    shared = {f"SYMPH_S{i}_ADDR": "127.0.0.1:20000" for i in range(2000)}
    own = {"SYMPH_PROCESS": "p", "SYMPH_S7_ADDR": "x" * 500}  # one shared name the process sets itself
    whole = {**shared, **own}
    # an argument that brings the whole just to the limit, and one byte over it
    base = len("\0".join(f"{k}={v}" for k, v in whole.items()).encode()) + 1 + len(whole) * POINTER
    for extra, refused in ((0, False), (1, True)):
        argv = arguments_of_size(limit - base + extra)
        assert (refusal(argv, whole) is not None) == refused
        assert refusal(argv, own, shared) == refusal(argv, whole)


def test_a_too_long_shared_variable_is_refused_unless_the_process_sets_its_own():
    shared = {"BIG": "x" * MAX_ARG_STRLEN, "SMALL": "y"}
    assert refusal(["prog"], {"A": "1"}, shared) == refusal(["prog"], {**shared, "A": "1"})
    assert "environment variable BIG (NAME=value)" in refusal(["prog"], {"A": "1"}, shared)
    assert refusal(["prog"], {"BIG": "short"}, shared) is None
