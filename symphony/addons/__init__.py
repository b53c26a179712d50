"""Helpers around container images: ``from symphony.addons import DockerBuilder, clean_images``.

Importing this package does not import the Docker SDK; that happens when an image
is built or listed.
"""

from .builder import DockerBuilder, ImageBuildError
from .images import clean_images

__all__ = ["DockerBuilder", "ImageBuildError", "clean_images"]
