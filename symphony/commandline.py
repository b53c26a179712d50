"""Seed import path: ``from symphony.commandline import SymphonyParser``."""

from .cli.parser import SymphonyParser

__all__ = ["SymphonyParser"]
