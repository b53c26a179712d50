"""The learning parts of the Ape-X example, in plain numpy: a small Q-network, its
double-DQN update with n-step targets and Adam, and prioritized replay.

Kept apart from the messaging so the algorithm can be read (and tested) on its own:
the processes in ``roles.py`` only move these arrays between each other.
"""

import numpy as np

OBS_SIZE = 4
ACTIONS = 2
HIDDEN = 64
LAYERS = ("w1", "b1", "w2", "b2", "w3", "b3")


def initial_parameters(seed):
    """He-initialised weights of a 4-64-64-2 ReLU network, float32, in ``LAYERS`` order."""
    rng = np.random.default_rng(seed)
    sizes = [(OBS_SIZE, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, ACTIONS)]
    params = {}
    for index, (fan_in, fan_out) in enumerate(sizes, start=1):
        params[f"w{index}"] = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        params[f"b{index}"] = np.zeros(fan_out, dtype=np.float32)
    return params


def q_values(params, obs):
    """Q(obs, ·) for a batch (B, 4) or one observation (4,)."""
    h1 = np.maximum(obs @ params["w1"] + params["b1"], 0.0)
    h2 = np.maximum(h1 @ params["w2"] + params["b2"], 0.0)
    return h2 @ params["w3"] + params["b3"]


def greedy_action(params, obs):
    return int(np.argmax(q_values(params, np.asarray(obs, dtype=np.float32))))


def epsilon_for(agent_index, agents, base=0.4, alpha=7.0):
    """Ape-X's per-agent exploration: agent i of N explores with base^(1 + alpha * i / (N - 1)),
    so a few agents explore a lot and the others almost act greedily."""
    if agents <= 1:
        return base
    return float(base ** (1.0 + alpha * agent_index / (agents - 1)))


class Adam:
    """Adam over a dict of arrays (the update the learner applies in place)."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        correction = np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        for key, grad in grads.items():
            self.m[key] = self.beta1 * self.m[key] + (1 - self.beta1) * grad
            self.v[key] = self.beta2 * self.v[key] + (1 - self.beta2) * grad * grad
            params[key] -= (self.lr * correction * self.m[key] / (np.sqrt(self.v[key]) + self.eps)).astype(np.float32)


def td_errors(params, target, batch):
    """Double-DQN n-step TD errors of ``batch`` (dict of arrays: obs, action, reward, next_obs, discount)."""
    next_online = q_values(params, batch["next_obs"])
    next_target = q_values(target, batch["next_obs"])
    best = np.argmax(next_online, axis=1)
    bootstrap = next_target[np.arange(len(best)), best]
    targets = batch["reward"] + batch["discount"] * bootstrap
    current = q_values(params, batch["obs"])[np.arange(len(best)), batch["action"]]
    return targets - current


def huber(error, delta=1.0):
    """Huber loss per sample: quadratic within ``delta`` of the target, linear beyond."""
    magnitude = np.abs(error)
    return np.where(magnitude <= delta, 0.5 * error * error, delta * (magnitude - 0.5 * delta))


def loss_and_gradients(params, target, batch, weights, delta=1.0):
    """The weighted Huber loss of double-DQN n-step targets, its gradients with respect to
    ``params`` (backpropagated by hand through the two ReLU layers) and the TD errors."""
    obs, actions = batch["obs"], batch["action"]
    rows = np.arange(len(actions))
    next_online = q_values(params, batch["next_obs"])
    next_target = q_values(target, batch["next_obs"])
    bootstrap = next_target[rows, np.argmax(next_online, axis=1)]
    targets = batch["reward"] + batch["discount"] * bootstrap  # held fixed: no gradient through them

    z1 = obs @ params["w1"] + params["b1"]
    h1 = np.maximum(z1, 0.0)
    z2 = h1 @ params["w2"] + params["b2"]
    h2 = np.maximum(z2, 0.0)
    q = h2 @ params["w3"] + params["b3"]
    error = q[rows, actions] - targets
    loss = float(np.sum(weights * huber(error, delta)) / len(actions))
    dq = np.zeros_like(q)
    dq[rows, actions] = np.clip(error, -delta, delta) * weights / len(actions)
    grads = {"w3": h2.T @ dq, "b3": dq.sum(0)}
    dh2 = (dq @ params["w3"].T) * (z2 > 0)
    grads["w2"], grads["b2"] = h1.T @ dh2, dh2.sum(0)
    dh1 = (dh2 @ params["w2"].T) * (z1 > 0)
    grads["w1"], grads["b1"] = obs.T @ dh1, dh1.sum(0)
    return loss, grads, error


def train_step(params, target, optimizer, batch, weights, clip=10.0):
    """One double-DQN update with importance ``weights`` (gradient norm clipped to ``clip``);
    returns the |TD error| per sample, the replay's new priorities."""
    _, grads, error = loss_and_gradients(params, target, batch, weights)
    norm = np.sqrt(sum(float((g * g).sum()) for g in grads.values()))
    if norm > clip:
        grads = {k: g * (clip / norm) for k, g in grads.items()}
    optimizer.step(params, {k: g.astype(np.float32) for k, g in grads.items()})
    return np.abs(error)


class NStep:
    """Turns one agent's steps into n-step transitions (reward summed with discounts, the
    observation n steps later, and the discount to apply to its value: 0 at a true end)."""

    def __init__(self, n, gamma):
        self.n, self.gamma = n, gamma
        self.pending = []

    def add(self, obs, action, reward, next_obs, terminated, truncated):
        """Add a step; returns the transitions it completes, as (obs, action, R, next_obs, discount)."""
        self.pending.append((obs, action, reward))
        done = []
        if len(self.pending) == self.n:
            done.append(self._pop(next_obs, 0.0 if terminated else self.gamma ** self.n))
        if terminated or truncated:
            while self.pending:
                k = len(self.pending)
                done.append(self._pop(next_obs, 0.0 if terminated else self.gamma ** k))
        return done

    def _pop(self, next_obs, discount):
        total = 0.0
        for k, (_, _, reward) in enumerate(self.pending):
            total += (self.gamma ** k) * reward
        obs, action, _ = self.pending.pop(0)
        return obs, action, total, next_obs, discount


class PrioritizedReplay:
    """Proportional prioritized replay over fixed-size numpy rings: the replay server's memory.

    Priorities live in a sum tree (a binary tree stored in one array, each node the sum of
    its children), so sampling a batch and updating its priorities cost O(batch · log capacity)
    whatever the fill: both walk the tree one level at a time for the whole batch at once.
    """

    def __init__(self, capacity, alpha=0.6, seed=0):
        self.leaves = 1 << max(1, int(capacity - 1).bit_length())
        self.capacity, self.alpha = capacity, alpha
        self.tree = np.zeros(2 * self.leaves, np.float64)
        self.obs = np.zeros((capacity, OBS_SIZE), np.float32)
        self.next_obs = np.zeros((capacity, OBS_SIZE), np.float32)
        self.action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.discount = np.zeros(capacity, np.float32)
        self.size = 0
        self.next = 0
        self.rng = np.random.default_rng(seed)

    def add(self, chunk):
        """Store a chunk (dict of arrays from an agent, with its initial ``priority``)."""
        count = min(len(chunk["action"]), self.capacity)
        idx = (self.next + np.arange(count)) % self.capacity
        for key in ("obs", "next_obs", "action", "reward", "discount"):
            getattr(self, key)[idx] = np.asarray(chunk[key])[-count:]
        self.update(idx, np.asarray(chunk["priority"])[-count:])
        self.next = int((self.next + count) % self.capacity)
        self.size = min(self.capacity, self.size + count)
        return count

    def sample(self, batch_size, beta=0.4):
        """``batch_size`` indices drawn by priority (one per equal slice of the total, as Ape-X
        does), their importance weights (max 1) and the transitions."""
        total = self.tree[1]
        targets = (np.arange(batch_size) + self.rng.random(batch_size)) * (total / batch_size)
        node = np.ones(batch_size, np.int64)
        while node[0] < self.leaves:
            left = self.tree[2 * node]
            right = targets > left
            targets = np.where(right, targets - left, targets)
            node = 2 * node + right
        idx = np.minimum(node - self.leaves, self.size - 1)
        probs = self.tree[idx + self.leaves] / total
        weights = (self.size * np.maximum(probs, 1e-12)) ** (-beta)
        weights = (weights / weights.max()).astype(np.float32)
        batch = {key: getattr(self, key)[idx] for key in ("obs", "next_obs", "action", "reward", "discount")}
        return idx, weights, batch

    def update(self, idx, errors):
        """Set the priorities of ``idx`` from their new |TD errors|."""
        node = np.asarray(idx, np.int64) + self.leaves
        self.tree[node] = (np.asarray(errors, np.float64) + 1e-3) ** self.alpha
        node = np.unique(node // 2)
        while node[0] >= 1:
            self.tree[node] = self.tree[2 * node] + self.tree[2 * node + 1]
            if node[0] == 1:
                break
            node = np.unique(node // 2)
