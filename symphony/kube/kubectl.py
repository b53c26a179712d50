"""The ``kubectl`` command line for one cluster, for what the API client cannot do well here
(an interactive shell, ``kubectl cp``, port-forwards that outlive the command)."""

import shutil

from ..errors import SymphonyError

KUBECTL_MISSING = ("this needs kubectl, which is not on PATH: install it "
                   "(https://kubernetes.io/docs/tasks/tools/) and try again")


def kubectl_command(kubeconfig, context, *args):
    """kubectl argv for the cluster of ``kubeconfig`` and ``context`` (None: kubectl's defaults);
    a clear error without kubectl."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SymphonyError(KUBECTL_MISSING)
    options = []
    if kubeconfig:
        options += ["--kubeconfig", kubeconfig]
    if context:
        options += ["--context", context]
    return [kubectl, *options, *args]
