"""The older import path ``from symphony.commandline import SymphonyParser``, kept working."""

from .cli.parser import SymphonyParser

__all__ = ["SymphonyParser"]
