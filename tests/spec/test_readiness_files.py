"""The experiment-wide start order in files: the same keys load, dump and refuse as in Python."""

import pytest

from symphony.errors import SpecError
from symphony.spec.serialize import experiment_from_dict, experiment_to_dict

FILE = {"name": "ord", "start_order": "services", "wait_timeout": 90, "on_timeout": "start",
        "processes": {"server": {"command": "sleep", "args": ["1"], "binds": ["replay"]},
                      "agent": {"command": "sleep", "args": ["1"], "connects": ["replay"]}}}


def test_start_order_keys_load_and_round_trip():
    exp = experiment_from_dict(FILE)
    wait = exp.processes["agent"].waits_for()["replay"]
    assert (wait.timeout, wait.on_timeout) == (90.0, "start")
    data = experiment_to_dict(exp)
    assert {key: data[key] for key in ("start_order", "wait_timeout", "on_timeout")} == \
        {"start_order": "services", "wait_timeout": 90, "on_timeout": "start"}
    assert experiment_to_dict(experiment_from_dict(data)) == data


def test_without_a_start_order_nothing_waits_and_nothing_is_written():
    plain = {key: value for key, value in FILE.items() if key not in ("start_order", "wait_timeout", "on_timeout")}
    exp = experiment_from_dict(plain)
    assert exp.processes["agent"].waits_for() == {}
    assert "start_order" not in experiment_to_dict(exp)


@pytest.mark.parametrize("key, value, message", [
    ("start_order", "bogus", "unknown start order 'bogus'"),
    ("on_timeout", "explode", "on_timeout"),
])
def test_bad_start_order_keys_are_one_line_errors_at_their_place(key, value, message):
    with pytest.raises(SpecError, match=message) as caught:
        experiment_from_dict({**FILE, key: value})
    assert "\n" not in str(caught.value)
