"""Which kubeconfig a cluster uses, decided as kubectl decides it.

The ``kubernetes`` client reads ``KUBECONFIG`` once, when it is imported; kubectl reads it
each time it runs. A :class:`~symphony.kube.cluster.KubeCluster` takes ``KUBECONFIG`` as it
is when the cluster is made, so changing it (``os.environ['KUBECONFIG'] = ...``) applies to
every cluster made afterwards, as it does to kubectl run afterwards.

``KUBECONFIG`` may list several files (``:``-separated; ``;`` on Windows): kubectl merges
those that exist, the first file to define a cluster, user or context (by name) or the
current context wins. The client merges the same way except that the *last* current context
wins, so the first file's is passed to it explicitly.
"""

import os

DEFAULT = "~/.kube/config"


def environment_value():
    """``KUBECONFIG`` now (None when unset or empty, as kubectl treats it)."""
    return os.environ.get("KUBECONFIG") or None


def files(explicit, environment):
    """The kubeconfig files to merge, in order: ``explicit`` (the ``kubeconfig=`` argument) alone,
    else those ``environment`` (a ``KUBECONFIG`` value) lists, else None (kubectl's default)."""
    if explicit:
        return [os.path.expanduser(explicit)]
    if environment:
        listed = [os.path.expanduser(path) for path in environment.split(os.pathsep) if path]
        return listed or None
    return None


def first_current_context(paths):
    """The current context of the first of ``paths`` that names one (kubectl's merge rule), or None."""
    import yaml
    for path in paths:
        try:
            with open(path) as handle:
                config = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError):
            continue  # the client reports an unreadable file itself
        if isinstance(config, dict) and config.get("current-context"):
            return config["current-context"]
    return None
