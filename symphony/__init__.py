"""Symphony: declare a multi-process experiment once, run it locally, in tmux, Docker or Kubernetes.

``from symphony import Cluster`` is all most scripts need::

    cluster = Cluster.new('local')
    exp = cluster.new_experiment('rl')
    learner = exp.new_process('learner', command='python', args=['learner.py'])
    learner.binds('replay-server')
    cluster.launch(exp)
"""

from .cluster import Cluster
from .config import SymphonyConfig
from .errors import SpecError, SymphonyError
from .spec import ExperimentSpec, ProcessGroupSpec, ProcessSpec

__version__ = "0.1.0"
__all__ = ["Cluster", "SymphonyConfig", "ExperimentSpec", "ProcessGroupSpec", "ProcessSpec",
           "SpecError", "SymphonyError"]
