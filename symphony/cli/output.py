"""Printing what ``ls`` and ``p`` return: a table for people, JSON or YAML for programs.

The table is plain aligned text everywhere; on a terminal each row is coloured by
process state (header in bold) with the terminal's own SGR codes, honouring
``NO_COLOR`` and ``TERM=dumb``. Five colours need no library: importing rich for
them cost ``symphony p`` about 60 ms on a terminal, more than everything else it does,
so ``symphony p`` reads the same on a terminal and in a pipe and starts as fast.
"""

import os
import sys

from ..status import ProcessState

OUTPUT_FORMATS = ("table", "json", "yaml")

#: style per process state; anything else is printed unstyled.
STATE_STYLES = {ProcessState.RUNNING: "green", ProcessState.PENDING: "yellow", ProcessState.RESTARTING: "yellow",
                ProcessState.WAITING: "yellow", ProcessState.EXITED: "dim", ProcessState.KILLED: "red",
                ProcessState.FAILED: "red", ProcessState.LOST: "red", ProcessState.TERMINATED: "dim"}


def state_style(state, exit_code=None):
    """The style of a process's row: by state, and red for an exit with an error code."""
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


#: SGR codes of the styles used
_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33"}


def colours_wanted(stream):
    """Colour only a terminal that can show it, and never when the user set NO_COLOR (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def print_table(headers, rows, styles=None, stream=None):
    """Rows of strings under ``headers``; ``styles`` gives a style per row (terminal only)."""
    stream = stream or sys.stdout
    lines = table_lines(headers, rows)
    if not colours_wanted(stream):
        stream.write("".join(line + "\n" for line in lines))
        return
    styled = []
    for index, line in enumerate(lines):
        style = "bold" if index == 0 else (styles[index - 1] if styles else None)
        styled.append(f"\x1b[{_SGR[style]}m{line}\x1b[0m\n" if style else line + "\n")
    stream.write("".join(styled))


def table_lines(headers, rows):
    """Columns padded to their widest cell, two spaces apart, as in the README's examples."""
    table = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(map(len, column)) for column in zip(*table)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]
