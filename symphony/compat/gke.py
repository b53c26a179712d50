"""``GKEDispatcher``: place processes on the node pools of a GKE cluster made by Cloudwise.

Cloudwise wrote a Terraform ``.tf.json`` describing each node pool: its labels (``name``,
``cpu``, ``memory_m``, and ``gpu_count``/``gpu_type`` on GPU pools) and its taints. The
dispatcher turns "run this on pool X" (or "on a machine", "on a GPU", "wherever these
resources fit") into what Kubernetes schedules by: a node selector on the pool's
``name`` label, a toleration of each of its taints (and of the GPU taint GKE puts on
GPU nodes), and resource requests and limits sized to the share of a machine asked for.
Everything is set through the model's own calls (``node_selector``, ``add_toleration``,
``resource_request``, ``resource_limit``), so the plan, the dry run and the checks are
those of any declaration, and the same experiment still launches on other backends
(which list node selectors and tolerations as not applied there).
"""

import copy
import json
import os
from typing import Any, Dict, List, Optional

from ..errors import SpecError

_REQUIRED_LABELS = ("name", "cpu", "memory_m")
#: Terraform's taint effects -> Kubernetes'
_EFFECTS = {"NO_EXECUTE": "NoExecute", "NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
#: left for the node's own daemons when a process claims a whole machine's cpus
_CPU_RESERVED = 0.6


class GKEDispatcher:
    """Node pools of a Cloudwise ``.tf.json`` (a path, or the parsed dict), and ways to assign a
    process to them. ``process_group``: the group the process belongs to (its pod), or None
    for a standalone process, which is its own pod."""

    def __init__(self, tf_json: Any) -> None:
        if not isinstance(tf_json, dict):
            path = os.path.expanduser(str(tf_json))
            try:
                with open(path, encoding="utf-8") as stream:
                    tf_json = json.load(stream)
            except OSError as exc:
                raise SpecError(f"GKEDispatcher cannot read {path}: {exc.strerror}: give the .tf.json Cloudwise "
                                f"wrote") from None
            except ValueError as exc:
                raise SpecError(f"GKEDispatcher: {path} is not JSON ({exc}): give the .tf.json Cloudwise wrote") from None
        self.tf_config = tf_json
        pools = tf_json.get("resource", {}).get("google_container_node_pool") if isinstance(
            tf_json.get("resource"), dict) else None
        if not isinstance(pools, dict) or not pools:
            raise SpecError("GKEDispatcher: the .tf.json has no resource/google_container_node_pool: give the "
                            "file Cloudwise wrote for the cluster")
        self.node_pools: Dict[str, Dict[str, Any]] = pools
        for name, pool in pools.items():
            self._check_pool(name, pool)

    @staticmethod
    def _check_pool(name: str, pool: Any) -> None:
        labels = pool.get("node_config", {}).get("labels") if isinstance(pool, dict) and isinstance(
            pool.get("node_config"), dict) else None
        if not isinstance(labels, dict):
            raise SpecError(f"GKEDispatcher: node pool {name!r} has no node_config/labels: is this file "
                            f"written by Cloudwise?")
        missing = [label for label in _REQUIRED_LABELS if label not in labels]
        if missing:
            raise SpecError(f"GKEDispatcher: node pool {name!r} lacks the label(s) {', '.join(missing)}: is this "
                            f"file written by Cloudwise?")

    def get_node_pools(self) -> List[str]:
        """The node pools' names, sorted."""
        return sorted(self.node_pools)

    def get_node_pool(self, name: str) -> Dict[str, Any]:
        """The Terraform entry of node pool ``name``."""
        if name not in self.node_pools:
            raise SpecError(f"no node pool {name!r} in this cluster: it has {', '.join(self.get_node_pools())}")
        return self.node_pools[name]

    def _labels(self, name: str) -> Dict[str, Any]:
        labels: Dict[str, Any] = self.get_node_pool(name)["node_config"]["labels"]
        return labels

    def assign_to_node_pool(self, process: Any, *, node_pool_name: str, process_group: Any = None,
                            memory_m: Optional[float] = None, cpu: Optional[float] = None,
                            gpu_count: Optional[int] = None) -> None:
        """Schedule ``process``'s pod on ``node_pool_name`` only, and claim ``memory_m`` megabytes,
        ``cpu`` cpus and ``gpu_count`` GPUs there."""
        pod = process if process_group is None else process_group
        pool = self.get_node_pool(node_pool_name)
        labels = self._labels(node_pool_name)
        pod.node_selector("name", labels["name"])  # the label only this pool's nodes carry
        for taint in pool["node_config"].get("taint", []) or []:
            toleration = copy.copy(taint)
            if "value" in toleration:
                toleration["operator"] = "Equal"
            if "effect" in toleration:
                toleration["effect"] = _EFFECTS.get(toleration["effect"], toleration["effect"])
            pod.add_toleration(**toleration)
        if "gpu_count" in labels:  # GKE taints GPU nodes; a pod placed on one must tolerate it
            pod.add_toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
        if memory_m is not None:
            process.resource_request(memory=f"{int(memory_m)}Mi")
        if cpu is not None:
            process.resource_request(cpu=cpu)
        if gpu_count is not None:
            process.resource_limit(gpu=gpu_count)

    def assign_to_machine(self, process: Any, *, node_pool_name: str, process_group: Any = None,
                          process_per_machine: int = 1) -> None:
        """Claim one machine of the pool (or a ``1/process_per_machine`` share of one): its cpus less
        what the node's daemons need, its memory (a share left for the node) and its GPUs."""
        if isinstance(process_per_machine, bool) or not isinstance(process_per_machine, int) \
                or process_per_machine < 1:
            raise SpecError(f"process_per_machine must be a whole number of at least 1, got {process_per_machine!r}")
        labels = self._labels(node_pool_name)
        memory_share = labels["memory_m"] / (process_per_machine + 1)
        cpu_share = int((labels["cpu"] - _CPU_RESERVED) / process_per_machine * 1000) / 1000
        gpu_share = max(int(labels["gpu_count"] / process_per_machine), 1) if "gpu_count" in labels else None
        self.assign_to_node_pool(process, node_pool_name=node_pool_name, process_group=process_group,
                                 memory_m=memory_share, cpu=cpu_share, gpu_count=gpu_share)

    def assign_to_gpu(self, process: Any, *, node_pool_name: str, process_group: Any = None) -> None:
        """Claim one GPU of the pool and the matching share of its machine."""
        labels = self._labels(node_pool_name)
        if "gpu_count" not in labels:
            raise SpecError(f"node pool {node_pool_name!r} has no GPUs: assign to a GPU pool, or use "
                            f"assign_to_machine")
        self.assign_to_machine(process, node_pool_name=node_pool_name, process_group=process_group,
                               process_per_machine=int(labels["gpu_count"]))

    def assign_to_resource(self, process: Any, *, node_pool_name: Optional[str] = None, process_group: Any = None,
                           memory_m: Optional[float] = None, cpu: Optional[float] = None,
                           gpu_type: Optional[str] = None, gpu_count: Optional[int] = None) -> None:
        """Claim these resources on ``node_pool_name``, or on the first pool where they fit."""
        if node_pool_name is None:
            node_pool_name = self.infer_node_pool_name(memory_m, cpu, gpu_type, gpu_count)
        self.assign_to_node_pool(process, node_pool_name=node_pool_name, process_group=process_group,
                                 memory_m=memory_m, cpu=cpu, gpu_count=gpu_count)

    def infer_node_pool_name(self, memory_m: Optional[float] = None, cpu: Optional[float] = None,
                             gpu_type: Optional[str] = None, gpu_count: Optional[int] = None) -> str:
        """The first pool (in name order) whose machines are larger than asked for; with no GPUs asked
        for, only pools without GPUs (so CPU work never takes a GPU machine)."""
        for name in self.get_node_pools():
            labels = self._labels(name)
            if memory_m is not None and labels["memory_m"] <= memory_m:
                continue
            if cpu is not None and labels["cpu"] <= cpu:
                continue
            if gpu_type is not None and gpu_type.lower() not in str(labels.get("gpu_type", "")).lower():
                continue
            if gpu_count is None and "gpu_count" in labels:
                continue
            if gpu_count is not None and labels.get("gpu_count", 0) < gpu_count:
                continue
            return name
        raise SpecError(f"no node pool fits cpu={cpu}, memory_m={memory_m}, gpu_type={gpu_type}, "
                        f"gpu_count={gpu_count}: pools are {', '.join(self.get_node_pools())}")

    def assign_to(self, process: Any, *, assign_to: str, **kwargs: Any) -> None:
        """One of the above by name ('node_pool', 'machine', 'gpu', 'resource'), for settings read from a
        config file; keywords that are None are left out."""
        methods = {"node_pool": self.assign_to_node_pool, "machine": self.assign_to_machine,
                   "gpu": self.assign_to_gpu, "resource": self.assign_to_resource}
        if assign_to not in methods:
            raise SpecError(f"assign_to={assign_to!r} is not a way to assign: use node_pool, machine, gpu or resource")
        methods[assign_to](process, **{key: value for key, value in kwargs.items() if value is not None})

    def __repr__(self) -> str:
        return f"GKEDispatcher(node pools: {', '.join(self.get_node_pools())})"
