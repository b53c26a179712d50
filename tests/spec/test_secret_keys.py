"""Experiment secrets: file names are checked as Kubernetes Secret keys, on every backend."""

import pytest

from symphony import ExperimentSpec
from symphony.errors import SpecError
from symphony.spec.secrets import secret_files


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
