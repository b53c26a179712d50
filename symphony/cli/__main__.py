"""``python -m symphony.cli`` runs the ``symphony`` command."""

from .main import main

main()
