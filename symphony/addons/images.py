"""``clean_images``: remove local images by ``repo:tag`` pattern and report the space freed.

Building on every launch (one tag per experiment) piles up images; this is the
broom. Space freed is measured by the engine itself (``docker system df`` layer
total before and after), so layers still shared with kept images are not counted.
"""

import fnmatch
import sys

from ..engines.docker_api import docker_client, docker_sdk
from ..errors import SymphonyError


def matching_tags(client, patterns):
    """Every local ``repo:tag`` matching one of the fnmatch ``patterns``, sorted."""
    tags = set()
    for image in client.images.list():
        for tag in image.tags:
            if any(fnmatch.fnmatchcase(tag, pattern) for pattern in patterns):
                tags.add(tag)
    return sorted(tags)


def clean_images(patterns, force=False, confirm=None, client=None, force_prune_containers=False,
                 force_prune_images=False):
    """Delete local images whose ``repo:tag`` matches ``patterns`` (a pattern or a list).

    Lists them and asks before deleting unless ``force``; returns
    ``{'removed': [tags], 'freed_bytes': n}``. ``confirm`` is the yes/no prompt (by
    default a question on the terminal; without a terminal nothing is deleted and a
    :class:`~symphony.errors.SymphonyError` says to pass ``force=True``, as the ``symphony``
    command says to pass ``-f``).

    As in the original, ``force_prune_containers`` first removes stopped containers (which
    would keep their images), and ``force_prune_images`` afterwards removes dangling
    (untagged) images, both without asking: that is what ``force_`` says.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    client = client or docker_client()
    if force_prune_containers:
        pruned = client.containers.prune().get("ContainersDeleted") or []
        print(f"removed {len(pruned)} stopped containers")
    result = _clean(client, patterns, force, confirm)
    if force_prune_images:
        pruned = client.images.prune(filters={"dangling": True}).get("ImagesDeleted") or []
        print(f"removed {len(pruned)} dangling images")
    return result


def _clean(client, patterns, force, confirm):
    tags = matching_tags(client, list(patterns))
    if not tags:
        print(f"no images match {', '.join(patterns)}")
        return {"removed": [], "freed_bytes": 0}
    print("images to delete:")
    for tag in tags:
        print(f"  {tag}")
    if not force and not _confirmed(confirm, f"delete these {len(tags)} images?"):
        print("nothing deleted")
        return {"removed": [], "freed_bytes": 0}
    before = client.df().get("LayersSize", 0)
    removed = []
    errors = docker_sdk().errors
    for tag in tags:
        try:
            client.images.remove(tag, force=force)
            removed.append(tag)
        except errors.APIError as exc:
            print(f"  kept {tag}: {exc.explanation or exc}")
    freed = max(0, before - client.df().get("LayersSize", 0))
    print(f"deleted {len(removed)} images, freed {_human_size(freed)}")
    return {"removed": removed, "freed_bytes": freed}


def _confirmed(confirm, question):
    """Whether the answer to ``question`` is yes: asked with ``confirm``, else on the terminal; without
    one, refused in one line naming ``force=True`` (as the CLI's confirmation names -f)."""
    if confirm is None:
        if sys.stdin is None or not sys.stdin.isatty():
            raise SymphonyError(f"{question.rstrip('?')}: not asking without a terminal; pass force=True")
        confirm = input
    try:
        answer = confirm(f"{question} [y/N] ")
    except EOFError:  # Ctrl-D, or a closed stdin: no
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def _human_size(size):
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
