"""Validation of resource amounts (cpu, memory, gpu) at declaration time.

Amounts are kept in Kubernetes quantity notation because that is what the most
demanding backend needs; Docker converts them (see :func:`memory_bytes`,
:func:`cpu_cores`). A typo such as ``'2GB'`` is caught here, before launch, with
the right spelling in the message.
"""

import math
import numbers
import re
from typing import Optional, Tuple, Union

from ..errors import InvalidQuantityError
from .brief import brief

_SUFFIX = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "m": 10**-3,
}
# Kubernetes' grammar: a number, then a binary or decimal suffix or a decimal exponent
# ('1e9', '5E-3'); an exponent is tried first, so '2E' stays exa and '2E3' is 2000.
_QUANTITY = re.compile(r"^(?P<num>[0-9]+(\.[0-9]+)?|\.[0-9]+)"
                       r"(?:(?P<exponent>[eE][-+]?[0-9]{1,2})|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m))?$")
# Suffixes people write (upper-cased here) -> the right one; 'G' and 'M' cover '2g' and '2m'.
_COMMON_MISTAKES = {"KB": "k", "MB": "M", "GB": "G", "TB": "T", "PB": "P", "KIB": "Ki", "MIB": "Mi",
                    "GIB": "Gi", "TIB": "Ti", "PIB": "Pi", "KI": "Ki", "MI": "Mi", "GI": "Gi", "TI": "Ti",
                    "PI": "Pi", "K": "k", "M": "M", "G": "G", "T": "T", "P": "P", "B": ""}
#: amounts are 64-bit integers in Kubernetes and Docker; a larger one is a typo (or hostile), and
#: would only overflow later (``int(inf)``, ``str()`` of a 5000-digit int)
MAX_AMOUNT = 2**63


def _too_large(amount: object, what: str, value: object = None) -> None:
    """Refuse an ``amount`` (of ``value``, as written) of 2^63 or more."""
    if isinstance(amount, (int, float)) and not isinstance(amount, bool) and abs(amount) >= MAX_AMOUNT:
        shown = brief(amount if value is None else value)
        raise InvalidQuantityError(f"{what} {shown} is larger than any machine has (at most 2^63): "
                                   f"check the number and its unit")


def _number_and_suffix(text: str) -> Optional[Tuple[float, str, float]]:
    """(number, suffix, multiplier) of a quantity string, or None; an exponent ('e9') is no suffix."""
    match = _QUANTITY.match(text)
    if not match:
        return None
    number, exponent, suffix = float(match.group("num")), match.group("exponent"), match.group("suffix") or ""
    return number, suffix, 10.0 ** int(exponent[1:]) if exponent else float(_SUFFIX[suffix])


def memory(value: object, what: str = "memory") -> str:
    """Validate a memory amount; returns it as a quantity string ('2G', '512Mi', '1073741824')."""
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Real)):
        raise InvalidQuantityError(f"{what} must be a number of bytes or a string like '2G' or '512Mi', got {brief(value)}")
    if isinstance(value, float):
        if not value.is_integer():  # also nan and inf
            raise InvalidQuantityError(f"{what} {brief(value)} is not a whole number of bytes: give an int, "
                                       f"or a string with a unit such as '512Mi' or '2G'")
        value = int(value)
    if isinstance(value, int):
        _too_large(value, what)
        if value <= 0:
            raise InvalidQuantityError(f"{what} must be positive, got {brief(value)}")
        return str(value)
    text = str(value).strip()
    parsed = _number_and_suffix(text)
    # millibytes ('500m' meant 500M) and amounts under a byte ('0.5', '1e-3') are mistakes
    if parsed is None or parsed[1] == "m" or parsed[0] * parsed[2] < 1:
        raise InvalidQuantityError(f"{what} {brief(value)} is not a valid amount: {_memory_hint(text)}")
    _too_large(parsed[0] * parsed[2], what, value)
    return text


def _memory_hint(text: str) -> str:
    match = re.match(r"^([0-9.]{1,20})\s*([A-Za-z]{1,3})$", text)  # only a short amount is worth repeating
    fixed = _COMMON_MISTAKES.get(match.group(2).upper()) if match else None
    if match is None or fixed is None:
        return ("use a positive number with an optional suffix k, M, G, T (powers of 10) "
                "or Ki, Mi, Gi, Ti (powers of 2), e.g. '2G'")
    if fixed in ("k", "M", "G", "T"):
        number, power = match.group(1), {"k": 3, "M": 6, "G": 9, "T": 12}[fixed]
        binary = "Ki" if fixed == "k" else fixed + "i"
        return (f"write '{number}{fixed}' ({number}×10^{power} bytes) "
                f"or '{number}{binary}' ({number}×2^{power // 3 * 10} bytes)")
    return f"write '{match.group(1)}{fixed}'"


def cpu(value: object, what: str = "cpu") -> Union[int, float, str]:
    """Validate a cpu amount; returns a float (cores) or a millicore string ('500m')."""
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Real)):
        raise InvalidQuantityError(f"{what} must be a number of cores such as 1.5 or '500m', got {brief(value)}")
    if isinstance(value, (int, float)):
        if not value > 0 or isinstance(value, float) and not math.isfinite(value):  # `not >` also catches nan
            raise InvalidQuantityError(f"{what} must be a positive number of cores such as 1.5 or '500m', got {brief(value)}")
        _too_large(value, what)
        return value
    text = str(value).strip()
    parsed = _number_and_suffix(text)
    if parsed is None or parsed[1] not in ("", "m") or parsed[0] <= 0:
        raise InvalidQuantityError(f"{what} {brief(value)} is not valid: use a positive number of cores such as 1.5 or '500m' (millicores)")
    _too_large(parsed[0] * parsed[2], what, value)
    return text


def gpu(value: object, what: str = "gpu") -> int:
    """Validate a gpu count: a non-negative whole number."""
    _too_large(value, what)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdecimal():
        raise InvalidQuantityError(f"{what} must be a whole number of GPUs such as 1, got {brief(value)}")
    count = int(value) if len(str(value)) <= 18 else MAX_AMOUNT  # int() refuses over 4300 digits
    _too_large(count, what, value)
    return count


def memory_bytes(value: Union[int, str]) -> int:
    """Convert a validated memory quantity to bytes (for Docker)."""
    number, _, multiplier = _parsed(value)
    return int(number * multiplier)


def cpu_cores(value: Union[int, float, str]) -> float:
    """Convert a validated cpu quantity to cores (for Docker's nano_cpus)."""
    if isinstance(value, (int, float)):
        return float(value)
    number, _, multiplier = _parsed(value)
    return number * multiplier


def _parsed(value: Union[int, str]) -> Tuple[float, str, float]:
    """(number, suffix, multiplier) of an amount :func:`memory` or :func:`cpu` accepted."""
    parsed = _number_and_suffix(str(value))
    if parsed is None:
        raise InvalidQuantityError(f"{brief(value)} is not a quantity checked by symphony.spec.quantities")
    return parsed
