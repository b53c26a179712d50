"""The Slurm runner reads its step and writes its status with ``_json``'s C halves only
(:mod:`symphony.host.plainjson`: no ``json``, ``re`` or ``enum`` import in each of a launch's
runners): what it reads and writes is what the ``json`` module would read and write."""

import json
import os
import subprocess
import sys

from hypothesis import given, strategies as st

from symphony.host import plainjson
from symphony.slurm import runner

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
records = st.dictionaries(st.text(), scalars | st.lists(scalars, max_size=4), max_size=8)


@given(records)
def test_a_record_is_written_as_json_writes_it(record):
    assert plainjson.dumps(record) == json.dumps(record)


@given(records)
def test_a_step_is_read_as_json_reads_it(record):
    text = json.dumps(record, indent=1)
    expected = json.loads(text)
    assert json.dumps(plainjson.loads(" \n" + text + "\n")) == json.dumps(expected)


def test_a_step_that_is_not_json_is_refused_by_the_json_module():
    try:
        plainjson.loads('{"argv": ')
    except json.JSONDecodeError as exc:
        assert "Expecting value" in str(exc)
    else:
        raise AssertionError("accepted")


def test_the_runner_starts_without_importing_json_re_or_enum():
    """As a step runs it: the file by path, ``python -I -S``, nothing else loaded first."""
    folder = os.path.dirname(runner.__file__)
    code = (f"import sys; sys.path.insert(0, {folder!r}); import runner; "
            "print(sorted(m for m in ('json', 're', 'enum', 'signal') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
