"""Experiment secrets: file names are checked as Kubernetes Secret keys, and files as what one
Secret can hold (small regular files), on every backend."""

import os

import pytest

from symphony import ExperimentSpec
from symphony.errors import SpecError
from symphony.spec.secrets import SECRETS_MAX_BYTES, secret_files


def test_a_file_name_that_cannot_be_a_secret_key_is_refused_with_a_rename(tmp_path):
    """Otherwise the plan passes and the API server refuses the Secret once the namespace exists."""
    (tmp_path / "my key.txt").write_text("k")
    exp = ExperimentSpec("sec", secrets=[str(tmp_path / "my key.txt")])
    with pytest.raises(SpecError, match=r"file name 'my key.txt' cannot be a secret key .*"
                                        r"rename the file, e.g. to 'my-key.txt'"):
        secret_files(exp)


@pytest.mark.parametrize("name", ["clé.txt", "..hidden", "x" * 254, "a@b"])
def test_other_invalid_keys(tmp_path, name):
    (tmp_path / name).write_text("k")
    with pytest.raises(SpecError, match="cannot be a secret key"):
        secret_files(ExperimentSpec("sec", secrets=[str(tmp_path / name)]))


@pytest.mark.parametrize("name", [".mjkey.txt", "token", "a_b-c.d", "x" * 253])
def test_valid_keys_pass(tmp_path, name):
    (tmp_path / name).write_text("k")
    assert secret_files(ExperimentSpec("sec", secrets=[str(tmp_path / name)])) == [(name, str(tmp_path / name))]


@pytest.mark.timeout(30)
def test_a_named_pipe_is_refused_without_being_opened(tmp_path):
    """Opening a FIFO waits for a writer: ``launch --dry-run`` hung forever."""
    os.mkfifo(tmp_path / "token")
    with pytest.raises(SpecError, match=r"secret '.*/token' is a named pipe \(FIFO\), not a regular file: "
                                        r"save what it provides to a file and list that file"):
        secret_files(ExperimentSpec("sec", secrets=[str(tmp_path / "token")]))


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_devices_are_refused(device):
    """/dev/zero would be copied until the disk is full; /dev/null is an empty secret by mistake."""
    with pytest.raises(SpecError, match=rf"secret '{device}' is a character device, not a regular file"):
        secret_files(ExperimentSpec("sec", secrets=[device]))


def test_secrets_over_what_one_kubernetes_secret_holds_are_refused(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * (SECRETS_MAX_BYTES + 1))
    with pytest.raises(SpecError, match=r"secret '.*/big' \(1048577 bytes\) brings the experiment's secrets to "
                                        r"1048577 bytes, over the 1 MiB \(1048576 bytes\) one Kubernetes Secret "
                                        r"holds: keep large files out of secrets=\[...\] and mount them instead"):
        secret_files(ExperimentSpec("sec", secrets=[str(tmp_path / "big")]))


def test_the_limit_is_on_all_secrets_together(tmp_path):
    half = SECRETS_MAX_BYTES // 2
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(b"x" * half)
    paths = [str(tmp_path / name) for name in ("a", "b", "c")]
    assert len(secret_files(ExperimentSpec("sec", secrets=paths[:2]))) == 2  # exactly 1 MiB
    with pytest.raises(SpecError, match=r"secret '.*/c' \(524288 bytes\) brings the experiment's secrets to 1572864"):
        secret_files(ExperimentSpec("sec", secrets=paths))
