"""The original Symphony's kubectl queries on KubeCluster, through the real kubectl against the fake API server."""

import shutil

import pytest

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture
def kube(api_cluster):
    return api_cluster


def test_current_context_and_config_view_read_this_clusters_kubeconfig(kube, api):
    context = kube.current_context()
    assert context
    view = kube.config_view()
    assert [c["name"] for c in view["contexts"]] == [context]
    assert view["clusters"][0]["cluster"]["server"].startswith("http")


def test_query_errors_are_one_line(kube):
    with pytest.raises(Exception, match="names= or labels=") as caught:
        kube.query_resources("pods", "json", names=["a"], labels="x=y")
    assert "\n" not in str(caught.value)
