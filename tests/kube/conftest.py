"""Helpers for the Kubernetes backend's tests: schema validation of every manifest."""

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, latest_version

#: The oldest and the newest Kubernetes versions whose OpenAPI schemas kubernetes-validate ships.
SCHEMA_VERSIONS = (all_versions()[0], latest_version())


def validate_all(objects):
    """Validate every manifest (strict: unknown fields are errors) against both schema versions."""
    assert objects, "nothing to validate"
    for obj in objects:
        for version in SCHEMA_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = "/".join(str(p) for p in exc.path)
                pytest.fail(f"{obj['kind']} {obj['metadata']['name']!r} is invalid for Kubernetes {version} "
                            f"at {path}: {exc.message}")
    return objects


@pytest.fixture
def kube():
    from symphony import Cluster
    return Cluster.new("kube")


@pytest.fixture(name="validate_all")
def validate_all_fixture():
    return validate_all


@pytest.fixture
def api():
    """A fake Kubernetes API server (tests/kube/fake_apiserver.py) for this test."""
    from fake_apiserver import FakeApiServer
    server = FakeApiServer()
    yield server
    server.close()


@pytest.fixture
def api_cluster(api, tmp_path):
    """A kube cluster talking to ``api``, polling fast so waits on the fake server stay short."""
    from symphony import Cluster
    cluster = Cluster.new("kube", kubeconfig=api.kubeconfig(tmp_path / "kubeconfig"), timeout=10)
    cluster.poll_interval = 0.02
    return cluster
