"""Resource amounts: what Kubernetes accepts passes, everything else is one clear error."""

import math

import pytest

from symphony import ExperimentSpec
from symphony.errors import InvalidQuantityError
from symphony.spec import quantities


def process():
    return ExperimentSpec("rl").new_process("a", "true")


@pytest.mark.parametrize("cpu", [math.nan, math.inf, -math.inf])
def test_cpu_that_is_not_a_finite_number_is_refused(cpu):
    """nan and inf would reach the manifest as 'nan'/'inf', which the API server refuses after launch began."""
    with pytest.raises(InvalidQuantityError, match="positive number of cores"):
        process().resource_limit(cpu=cpu)


@pytest.mark.parametrize("mem", [0.5, 1536.7, math.nan, math.inf])
def test_memory_as_a_fraction_of_a_byte_is_refused_instead_of_truncated(mem):
    """int(0.5) is 0 bytes: '0' as a limit, and no limit at all on Docker."""
    with pytest.raises(InvalidQuantityError, match="not a whole number of bytes: give an int, or a string"):
        process().resource_request(mem=mem)


@pytest.mark.parametrize("mem", ["0.5", "1e-3", "500m"])
def test_memory_strings_under_a_byte_or_in_millibytes_are_refused(mem):
    with pytest.raises(InvalidQuantityError, match="not a valid amount"):
        process().resource_request(mem=mem)


def test_whole_float_memory_is_bytes():
    assert process().resource_request(mem=2e9).resources["requests"]["memory"] == "2000000000"


@pytest.mark.parametrize("text, as_bytes", [("1e9", 10**9), ("1E9", 10**9), ("5e+3", 5000), ("2.5e6", 2_500_000),
                                            ("2E", 2 * 10**18), ("1Gi", 2**30)])
def test_decimal_exponents_are_accepted_as_kubernetes_does(text, as_bytes):
    resources = process().resource_request(mem=text).resources["requests"]
    assert resources["memory"] == text
    assert quantities.memory_bytes(text) == as_bytes


@pytest.mark.parametrize("text, cores", [("1e0", 1.0), ("5e-1", 0.5), ("250m", 0.25), ("2", 2.0)])
def test_cpu_exponents_convert_to_cores(text, cores):
    assert process().resource_request(cpu=text).resources["requests"]["cpu"] == text
    assert quantities.cpu_cores(text) == pytest.approx(cores)


@pytest.mark.parametrize("cpu", ["2E", "1k", "1Gi"])
def test_cpu_with_a_size_suffix_is_refused(cpu):
    with pytest.raises(InvalidQuantityError, match="'500m'"):
        process().resource_request(cpu=cpu)


@pytest.mark.parametrize("mem, fix", [("2g", "write '2G' "), ("512m", "write '512M' "), ("1gi", "write '1Gi'"),
                                      ("4Gb", "write '4G' "), ("3k", None)])
def test_lowercase_or_spelled_out_suffixes_get_the_right_spelling(mem, fix):
    if fix is None:  # 'k' is the right spelling already
        assert process().resource_request(mem=mem).resources["requests"]["memory"] == mem
        return
    with pytest.raises(InvalidQuantityError, match=fix):
        process().resource_request(mem=mem)


@pytest.mark.parametrize("kwargs", [{"mem": 10**5000}, {"mem": "9" * 5000}, {"mem": "8Ei"}, {"cpu": 10**5000},
                                    {"cpu": 1e300}, {"cpu": "9" * 400}, {"gpu": 10**5000}, {"gpu": "9" * 5000}])
def test_amounts_beyond_64_bits_are_refused(kwargs):
    """They overflowed later instead: str() of a 5000-digit int, int(inf) in the Docker plan."""
    with pytest.raises(InvalidQuantityError, match=r"is larger than any machine has \(at most 2\^63\)"):
        process().resource_limit(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"mem": "1e400"}, r"memory '1e400' is not a valid amount: use a positive number with an optional suffix"),
    ({"mem": "1e" + "9" * 5000}, r"memory '1e9+\.\.\.9+' is not a valid amount: use a positive number"),
    ({"gpu": "\u00b2"}, r"gpu must be a whole number of GPUs such as 1, got '²'$"),
    ({"mem": [1]}, r"memory must be a number of bytes or a string like '2G' or '512Mi', got \[1\]$"),
    ({"cpu": {"a": 1}}, r"cpu must be a number of cores such as 1\.5 or '500m', got \{'a': 1\}$"),
])
def test_numbers_python_cannot_convert_are_ordinary_errors(kwargs, message):
    with pytest.raises(InvalidQuantityError, match=rf"^process 'a' resource_limit {message}"):
        process().resource_limit(**kwargs)
