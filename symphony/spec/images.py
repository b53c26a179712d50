"""Container image references: parsing and checking them, the same for every backend.

Every backend that runs images (and the image builder) reads references the same way, so
a name is refused once, at planning, whatever engine would have received it.
"""

import functools
import re
from typing import Optional, Tuple

from ..errors import SpecError


def split_image(image: str) -> Tuple[str, Optional[str]]:
    """``'host:5000/repo:tag'`` -> ``('host:5000/repo', 'tag')``; the tag is None when absent.

    A colon only separates a tag after the last '/', since registry hosts may carry a port.
    """
    name, _, digest = image.partition("@")
    if digest:
        return name, None
    repo, colon, tag = name.rpartition(":")
    if colon and repo and "/" not in tag:
        return repo, tag
    return name, None


# Docker's image reference grammar (github.com/distribution/reference): an optional registry
# host[:port], lowercase path components joined by '.', '_', '__' or dashes, then a tag and/or
# a digest.
_HOST = re.compile(r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
                   r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?")
_PATH = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")


def image_reference_problem(image: object) -> Optional[str]:
    """Why ``image`` is not a valid Docker image reference, or None when it is.

    Checked before anything is built or created, so a bad name is a declaration error
    rather than the engine's ``400``/``500`` in the middle of a launch.
    """
    if not isinstance(image, str) or not image:
        return "an image name cannot be empty"
    return _string_problem(image)


@functools.lru_cache(maxsize=1024)  # the same few images name thousands of processes
def _string_problem(image: str) -> Optional[str]:
    if any(c.isspace() for c in image):
        return "image names cannot contain spaces"
    rest, _, digest = image.partition("@")
    name, colon, tagged = rest.rpartition(":")
    tag: Optional[str] = tagged
    if not colon or "/" in tagged:
        name, tag = rest, None
    host, slash, path = name.partition("/")
    # as in Docker, the first component names a registry when it has '.' or ':' or is localhost
    first: Optional[str] = host
    if not (slash and ("." in host or ":" in host or host == "localhost")):
        first, path = None, name
    if first is not None and not _HOST.fullmatch(first):
        return f"{first!r} is not a registry host[:port]"
    if path != path.lower():
        return "repository names must be lowercase"
    if not _PATH.fullmatch(path):
        return ("the repository must be path components of lowercase letters and digits, "
                "separated by '/' and joined within by '.', '_' or '-'")
    if len(name) > 255:
        return "the repository name is longer than 255 characters"
    if tag is not None and not _TAG.fullmatch(tag):
        return "a tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
    if digest and not _DIGEST.fullmatch(digest):
        return "a digest is <algorithm>:<hex>"
    return None


def check_image_reference(image: object, what: str) -> None:
    """Raise a :class:`SpecError` naming ``what`` when ``image`` is not a valid reference."""
    problem = image_reference_problem(image)
    if problem:
        raise SpecError(f"{what}: {image!r} is not a valid Docker image name: {problem}")
