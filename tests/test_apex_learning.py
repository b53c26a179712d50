"""examples/apex's learning pieces on their own: the hand-written gradients, n-step
transitions, prioritized sampling and the exploration schedule. Whole runs that must
learn are in tests/test_examples.py."""

import os
import sys

import numpy as np
import pytest

APEX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "apex")
sys.path.insert(0, APEX)
import dqn  # noqa: E402


def random_batch(rng, size=16):
    return {"obs": rng.standard_normal((size, dqn.OBS_SIZE)), "next_obs": rng.standard_normal((size, dqn.OBS_SIZE)),
            "action": rng.integers(dqn.ACTIONS, size=size), "reward": rng.standard_normal(size),
            "discount": rng.choice([0.0, 0.97], size=size)}


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    params = {k: v.astype(np.float64) for k, v in dqn.initial_parameters(1).items()}
    target = {k: v.astype(np.float64) for k, v in dqn.initial_parameters(2).items()}
    batch = random_batch(rng)
    batch["reward"] = batch["reward"] * 3  # some errors beyond the Huber threshold, some within
    weights = rng.uniform(0.2, 1.0, size=16)
    _, grads, errors = dqn.loss_and_gradients(params, target, batch, weights)
    assert (np.abs(errors) > 1).any() and (np.abs(errors) < 1).any()
    step = 1e-6
    for key in dqn.LAYERS:
        flat = params[key].reshape(-1)
        for index in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            saved = flat[index]
            flat[index] = saved + step
            plus = dqn.loss_and_gradients(params, target, batch, weights)[0]
            flat[index] = saved - step
            minus = dqn.loss_and_gradients(params, target, batch, weights)[0]
            flat[index] = saved
            numeric = (plus - minus) / (2 * step)
            assert grads[key].reshape(-1)[index] == pytest.approx(numeric, rel=1e-4, abs=1e-7), (key, index)


def test_training_fits_fixed_targets():
    """With terminal transitions the target is the reward alone: updates must drive the error down."""
    rng = np.random.default_rng(0)
    params, target = dqn.initial_parameters(0), dqn.initial_parameters(0)
    batch = {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in random_batch(rng, 64).items()}
    batch["discount"][:] = 0.0
    optimizer = dqn.Adam(params, lr=1e-2)
    first = dqn.train_step(params, target, optimizer, batch, np.ones(64, np.float32)).mean()
    for _ in range(300):
        last = dqn.train_step(params, target, optimizer, batch, np.ones(64, np.float32)).mean()
    assert last < first / 10


def test_n_step_transitions_sum_discounted_rewards_and_stop_at_a_true_end():
    gamma = 0.5
    steps = dqn.NStep(3, gamma)
    out = []
    for t in range(5):
        out += steps.add(f"s{t}", t % 2, 1.0, f"s{t + 1}", terminated=(t == 4), truncated=False)
    assert [(o, a, r, n, d) for o, a, r, n, d in out] == [
        ("s0", 0, 1.75, "s3", 0.125), ("s1", 1, 1.75, "s4", 0.125),
        ("s2", 0, 1.75, "s5", 0.0), ("s3", 1, 1.5, "s5", 0.0), ("s4", 0, 1.0, "s5", 0.0)]
    cut = dqn.NStep(3, gamma)
    out = cut.add("a", 0, 1.0, "b", False, False) + cut.add("b", 0, 1.0, "c", False, True)
    # a time limit is not an end: the value of what follows still counts
    assert [(o, r, n, d) for o, _, r, n, d in out] == [("a", 1.5, "c", 0.25), ("b", 1.0, "c", 0.5)]


def test_prioritized_replay_samples_in_proportion_and_keeps_its_sums():
    replay = dqn.PrioritizedReplay(100, alpha=1.0, seed=0)
    chunk = {"obs": np.zeros((4, 4)), "next_obs": np.zeros((4, 4)), "action": np.arange(4) % 2,
             "reward": np.arange(4, dtype=np.float32), "discount": np.ones(4), "priority": [1.0, 2.0, 3.0, 4.0]}
    replay.add(chunk)
    counts = np.zeros(4)
    for _ in range(200):
        idx, weights, batch = replay.sample(64)
        counts += np.bincount(idx, minlength=4)
        assert (batch["reward"] == idx).all()
        assert weights.max() == 1.0
    expected = np.array([1.001, 2.001, 3.001, 4.001]) / 10.004
    assert counts / counts.sum() == pytest.approx(expected, abs=0.01)
    replay.update([3], [0.0])
    idx, _, _ = replay.sample(1000)
    assert (idx == 3).mean() < 0.01
    rng = np.random.default_rng(1)
    for _ in range(20):  # wrap around the ring many times: the root stays the sum of the leaves
        replay.add({**chunk, "priority": rng.uniform(0, 5, 4)})
        replay.update(rng.integers(replay.size, size=8), rng.uniform(0, 5, 8))
    assert replay.size == 84
    assert replay.tree[1] == pytest.approx(replay.tree[replay.leaves:].sum())


def test_each_agent_explores_by_its_own_epsilon():
    assert dqn.epsilon_for(0, 1) == 0.4
    schedule = [dqn.epsilon_for(i, 4) for i in range(4)]
    assert schedule[0] == pytest.approx(0.4) and schedule[-1] == pytest.approx(0.4 ** 8)
    assert schedule == sorted(schedule, reverse=True)
