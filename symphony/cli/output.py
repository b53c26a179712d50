"""Printing what ``ls`` and ``p`` return: a table for people, JSON or YAML for programs.

The table is plain aligned text everywhere; on a terminal rich colours it (by
process state, header in bold) and honours ``NO_COLOR`` and the terminal's
capabilities. When stdout is a pipe or a file rich is never imported, so
``symphony p | grep exited`` works and stays fast. Rows are laid out here and
handed to rich as one styled ``Text`` rather than a ``rich.table.Table``: the same
look, but rendering 100 rows takes ~3 ms instead of ~40 ms, which keeps
``symphony p`` on a terminal inside its 150 ms budget.
"""

import sys

from ..status import ProcessState

OUTPUT_FORMATS = ("table", "json", "yaml")

#: rich style per process state; anything else is printed unstyled.
STATE_STYLES = {ProcessState.RUNNING: "green", ProcessState.PENDING: "yellow", ProcessState.RESTARTING: "yellow",
                ProcessState.WAITING: "yellow", ProcessState.EXITED: "dim", ProcessState.KILLED: "red",
                ProcessState.FAILED: "red", ProcessState.LOST: "red", ProcessState.TERMINATED: "dim"}


def state_style(state, exit_code=None):
    """The rich style of a process's row: by state, and red for an exit with an error code."""
    if state == ProcessState.EXITED and exit_code:
        return "red"
    return STATE_STYLES.get(state)


def print_data(data, output_format, stream=None):
    """``-o json`` / ``-o yaml``."""
    stream = stream or sys.stdout
    if output_format == "json":
        import json
        stream.write(json.dumps(data, indent=2) + "\n")
    else:
        import yaml
        yaml.safe_dump(data, stream, sort_keys=False)


def print_table(headers, rows, styles=None, stream=None):
    """Rows of strings under ``headers``; ``styles`` gives a rich style per row (terminal only)."""
    stream = stream or sys.stdout
    lines = table_lines(headers, rows)
    if not stream.isatty():
        stream.write("".join(line + "\n" for line in lines))
        return
    from rich.console import Console
    from rich.text import Text
    text = Text(no_wrap=True, overflow="ignore")
    for index, line in enumerate(lines):
        text.append(line + "\n", style="bold" if index == 0 else (styles[index - 1] if styles else None) or "")
    Console(file=stream, highlight=False).print(text, end="")


def table_lines(headers, rows):
    """Columns padded to their widest cell, two spaces apart, as in the README's examples."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in [headers, *rows]]
