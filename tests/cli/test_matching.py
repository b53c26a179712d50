"""Fuzzy name matching: tiers, ambiguity without a terminal, group/process exactness."""

import pytest

from symphony.cli.matching import AmbiguousNameError, best_candidates, match_experiment, match_process
from symphony.errors import ExperimentNotFoundError, ProcessNotFoundError

EXPERIMENTS = ["rl", "sarah-rl", "rl-long", "sweep-rl", "cartpole-rl-2", "sarah-cartpole"]


@pytest.mark.parametrize("query, username, expected", [
    ("rl", None, (True, ["rl"])),                                   # exact wins over everything
    ("cartpole", "sarah", (True, ["sarah-cartpole"])),              # then <username>-<name>
    ("rl-", None, (False, ["rl-long"])),                            # then prefix
    ("-rl", None, (False, ["sarah-rl", "sweep-rl"])),               # then suffix
    ("pole-rl", None, (False, ["cartpole-rl-2"])),                  # then substring
    ("sweep", "sarah", (False, ["sweep-rl"])),
    ("nothing", None, (False, [])),
])
def test_tiers(query, username, expected):
    assert best_candidates(query, EXPERIMENTS, username) == expected


def test_exact_name_beats_longer_prefix_matches():
    assert best_candidates("rl", ["rl-long", "rl"]) == (True, ["rl"])


def test_single_fuzzy_match_is_used_with_a_note(capsys):
    assert match_experiment("long", EXPERIMENTS) == "rl-long"
    assert "using experiment 'rl-long' for 'long'" in capsys.readouterr().err


def test_several_candidates_without_a_terminal_is_an_error_listing_them():
    with pytest.raises(AmbiguousNameError, match=r"'-rl' matches several experiments: sarah-rl, sweep-rl"):
        match_experiment("-rl", EXPERIMENTS)


def test_no_candidate_names_the_listing_command():
    with pytest.raises(ExperimentNotFoundError, match=r"`symphony ls` lists the experiments on the tmux backend"):
        match_experiment("zzz", EXPERIMENTS, backend="tmux")


KEYS = ["learner", "replay", "agents/agent-0", "agents/agent-1", "evals/agent-0", "tensorboard"]


def test_process_matching():
    assert match_process("learner", "exp", KEYS) == "learner"
    assert match_process("agent-1", "exp", KEYS) == "agents/agent-1"          # unique name inside a group
    assert match_process("evals/agent-0", "exp", KEYS) == "evals/agent-0"     # group/process
    assert match_process("tensor", "exp", KEYS) == "tensorboard"              # prefix
    with pytest.raises(AmbiguousNameError, match="agents/agent-0, evals/agent-0"):
        match_process("agent-0", "exp", KEYS)                                 # same name in two groups
    with pytest.raises(ProcessNotFoundError, match="group/process names are exact"):
        match_process("agents/agent", "exp", KEYS)
    with pytest.raises(ProcessNotFoundError, match="experiment 'exp' has processes learner, replay"):
        match_process("critic", "exp", KEYS)
