"""The ``kubectl`` command line for one cluster, for what the API client cannot do well here
(an interactive shell, ``kubectl cp``, port-forwards that outlive the command)."""

import os
import shutil

from ..errors import SymphonyError

KUBECTL_MISSING = ("this needs kubectl, which is not on PATH: install it "
                   "(https://kubernetes.io/docs/tasks/tools/) and try again")

#: ``environment``'s default: kubectl reads ``KUBECONFIG`` from this process's environment
INHERIT = object()


def kubectl_command(kubeconfig, context, *args, environment=INHERIT):
    """kubectl argv for the cluster of ``kubeconfig`` and ``context`` (None: kubectl's defaults);
    a clear error without kubectl.

    ``environment``: the ``KUBECONFIG`` value (or None: unset) the cluster was made with; when
    this process's has changed since, kubectl runs with the cluster's, so that it talks to the
    same cluster as the API client.
    """
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SymphonyError(KUBECTL_MISSING)
    prefix = []
    if not kubeconfig and environment is not INHERIT and environment != (os.environ.get("KUBECONFIG") or None):
        prefix = ["env", f"KUBECONFIG={environment}"] if environment else ["env", "-u", "KUBECONFIG"]
    options = []
    if kubeconfig:
        options += ["--kubeconfig", kubeconfig]
    if context:
        options += ["--context", context]
    return [*prefix, kubectl, *options, *args]
