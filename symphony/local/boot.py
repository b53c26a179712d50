"""How the local backend's daemons start as interpreters of their own: the supervisor, its guardian.

They need nothing but the standard library and this package, so the ``site`` step (the
environment's search path, its .pth files and what they import: a third of an interpreter's
start-up, which every launch waits for) is left out (``-S``), and the package root takes the
place of the current directory on the search path (nothing there can shadow a module they
import). A module of its own, importing nothing of Symphony's: the launcher, the supervisor and
the guardian all build these command lines.
"""

import os
import sys

#: the directory holding this ``symphony`` package: the daemons import it from there
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: the supervisor's start (``-c`` this, then the package root, the backend, the experiment and the options)
SUPERVISOR_BOOT = "import sys; sys.path[0] = sys.argv.pop(1); from symphony.local.supervisor import main; sys.exit(main())"
#: the same for the guardian of a supervisor forked out of the launcher
GUARDIAN_BOOT = "import sys; sys.path[0] = sys.argv.pop(1); from symphony.local.guardian import main; main()"


def interpreter(boot):
    """The command line of a daemon's interpreter, to which its own arguments are appended."""
    return [sys.executable, "-S", "-c", boot, PACKAGE_ROOT]
