"""Printing what ``ls`` and ``p`` return: a table for people, JSON or YAML for programs.

The table is drawn by rich on a terminal (rich honours ``NO_COLOR``); when stdout
is a pipe or a file it is plain aligned text, so ``symphony p | grep exited`` and
``awk`` work and rich is never imported for it.
"""

import json
import sys

OUTPUT_FORMATS = ("table", "json", "yaml")

#: rich style per process state; anything else is printed unstyled.
STATE_STYLES = {"running": "green", "pending": "yellow", "restarting": "yellow", "waiting": "yellow",
                "exited": "dim", "killed": "red", "lost": "red", "terminated": "dim"}


def print_data(data, output_format, stream=None):
    """``-o json`` / ``-o yaml``."""
    stream = stream or sys.stdout
    if output_format == "json":
        stream.write(json.dumps(data, indent=2) + "\n")
    else:
        import yaml
        yaml.safe_dump(data, stream, sort_keys=False)


def print_table(headers, rows, styles=None, stream=None):
    """Rows of strings under ``headers``; ``styles`` gives a rich style per row (terminal only)."""
    stream = stream or sys.stdout
    if stream.isatty():
        _print_rich_table(headers, rows, styles, stream)
    else:
        stream.write(plain_table(headers, rows))


def plain_table(headers, rows):
    """Columns padded to their widest cell, two spaces apart, as in the README's examples."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in [headers, *rows]]
    return "\n".join(lines) + "\n"


def _print_rich_table(headers, rows, styles, stream):
    from rich.console import Console
    from rich.table import Table
    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header)
    for index, row in enumerate(rows):
        table.add_row(*(str(cell) for cell in row), style=styles[index] if styles else None)
    Console(file=stream).print(table)
