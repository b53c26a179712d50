"""Local state shared between CLI invocations, supervisors and launches: one SQLite file.

Why SQLite: several processes (a launch, its supervisor, ``symphony p`` in another
terminal, a concurrent launch from a second terminal) read and write at once.
SQLite in WAL mode with a busy timeout gives them transactions without a daemon;
``BEGIN IMMEDIATE`` serialises the few critical sections (port reservation,
creating an experiment) across processes.

The directory is ``$SYMPHONY_HOME`` (default ``~/.symphony``), created 0700;
files in it are 0600, since logs and saved specs may hold private data.

The schema is versioned (``PRAGMA user_version``): a state file written by an older
Symphony is upgraded in place on first use — columns added since are added with their
defaults, so running experiments stay visible and deletable across an upgrade — and
one written by a newer Symphony is refused with a message instead of misread.

Never ``open()``/``close()`` ``state.db`` in a process that also holds a connection:
closing any descriptor of a file drops every POSIX lock the process holds on it,
SQLite's included, and a concurrent writer can then corrupt the database.
"""

from __future__ import annotations

import _weakref
import contextlib
import enum
import os
import time

from symphony.errors import StateError
from symphony.status import ProcessState

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing, not needed to run `symphony p`)
if TYPE_CHECKING:
    import sqlite3
    from typing import IO, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

#: bump when SCHEMA changes, and list every column added since version 1 in ADDED_COLUMNS
#: (2: processes.start_ticks; 3: experiments.supervisor_ticks)
SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS experiments (
    backend TEXT NOT NULL,
    name TEXT NOT NULL,
    run_id TEXT NOT NULL,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    supervisor_pid INTEGER,
    supervisor_ticks INTEGER,
    adoptions INTEGER NOT NULL DEFAULT 0,
    spec TEXT NOT NULL,
    plan TEXT NOT NULL,
    PRIMARY KEY (backend, name)
);
CREATE TABLE IF NOT EXISTS processes (
    backend TEXT NOT NULL,
    experiment TEXT NOT NULL,
    key TEXT NOT NULL,
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    start_ticks INTEGER,
    exit_code INTEGER,
    signal INTEGER,
    restarts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    log_path TEXT NOT NULL,
    PRIMARY KEY (backend, experiment, key)
);
CREATE TABLE IF NOT EXISTS ports (
    port INTEGER PRIMARY KEY,
    backend TEXT NOT NULL,
    experiment TEXT NOT NULL,
    service TEXT NOT NULL
);
"""

#: columns that state files from before they existed lack: (table, column, declaration)
ADDED_COLUMNS = (
    ("experiments", "adoptions", "INTEGER NOT NULL DEFAULT 0"),
    # when the process of ``pid`` started, in clock ticks since boot (/proc/<pid>/stat): with the pid,
    # its identity, which no wall-clock step changes (NULL in rows an older Symphony wrote)
    ("processes", "start_ticks", "INTEGER"),
    # the supervisor's start ticks: with its pid, what a delete stops even before the supervisor
    # carries the run's marker (a supervisor forked out of the launcher, before its exec)
    ("experiments", "supervisor_ticks", "INTEGER"),
)


class ExperimentStatus(str, enum.Enum):
    """The ``status`` of an experiment's row (its processes' rows hold a :class:`ProcessState`).

    A ``str`` enum, as ProcessState: the row stores the plain word.
    """

    STARTING = "starting"    # recorded, its processes not started yet
    RUNNING = "running"      # its processes were started
    FINISHED = "finished"    # every process ended for good (local supervisor)
    DELETING = "deleting"    # being deleted: nothing may restart or re-adopt it

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


def symphony_home() -> str:
    """The state directory: ``$SYMPHONY_HOME`` or ``~/.symphony``, created private."""
    home = os.path.abspath(os.path.expanduser(os.environ.get("SYMPHONY_HOME") or "~/.symphony"))
    if os.path.exists(home) and not os.path.isdir(home):
        raise StateError(f"the state directory {home} is a file, not a directory: move the file aside, "
                         f"or set SYMPHONY_HOME to a directory")
    try:
        private_dir(home)
        info = os.stat(home)
        # a state directory left open by an older Symphony (it holds state.db, it is ours):
        # logs and specs may be private. Any other directory is the user's and left alone.
        if info.st_mode & 0o077 and info.st_uid == os.geteuid() and os.path.exists(os.path.join(home, "state.db")):
            os.chmod(home, 0o700)
    except OSError as exc:
        raise StateError(f"cannot use the state directory {home} ({exc.strerror or exc}): "
                         f"set SYMPHONY_HOME to a directory you own") from None
    return home


def private_dir(path: str) -> str:
    """Create ``path`` and any missing parents with mode 0700 and return it."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    return path


def open_private(path: str, mode: str = "a") -> IO[Any]:
    """Open a file that only the owner may read (logs, saved specs, secret copies); "wb" for bytes."""
    flags = {"a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC}[mode[0]]
    fd = os.open(path, flags, 0o600)
    return os.fdopen(fd, mode) if "b" in mode else os.fdopen(fd, mode, encoding="utf-8")


def _sqlite_driver() -> Any:
    """The SQLite driver: :mod:`sqlite3`'s own C module where there is one (CPython's and PyPy's
    ``_sqlite3``, whose ``connect``, ``Row`` and errors :mod:`sqlite3` re-exports unchanged). What
    the package adds is the DB-API's date and time adapters, which no state column needs, and
    importing them (``datetime``) took longer than the driver itself, on every ``symphony p``.
    Imported on first use: a command that opens no store (``symphony -b slurm p NAME``) needs none."""
    try:
        import _sqlite3
        return _sqlite3
    except ImportError:
        import sqlite3
        return sqlite3


#: an experiment's row without what grows with its processes (its spec and plan)
_BRIEF_COLUMNS = "backend, name, run_id, created, status, supervisor_pid, supervisor_ticks, adoptions"


class StateStore:
    """Thin access layer over the SQLite file; each method is one short transaction."""

    def __init__(self, home: Optional[str] = None) -> None:
        self.home = home or symphony_home()
        self.path = os.path.join(self.home, "state.db")
        if not os.path.exists(self.path):
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        driver = _sqlite_driver()
        try:
            self._connect()
            self._ensure_schema()
        except StateError:
            self.close()
            raise
        except driver.DatabaseError as exc:
            if isinstance(exc, driver.OperationalError) and "locked" in str(exc):
                raise  # busy for longer than the timeout: not a damaged file
            if getattr(self, "_open", False):  # (else the connection failed, or closed itself)
                self.close()
            raise StateError(f"{self.path} is not a usable Symphony state database ({exc}): move it aside "
                             f"(Symphony then starts a new one; running experiments are forgotten), or set "
                             f"SYMPHONY_HOME to another directory") from None

    def _connect(self) -> None:
        driver = _sqlite_driver()
        self.db: sqlite3.Connection = driver.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = driver.Row
        try:
            self.db.execute("PRAGMA busy_timeout = 30000")
            # WAL + NORMAL: no corruption on a crash, and commits do not wait for fsync
            self.db.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            self.db.close()
            raise
        self._open = True
        self._pid = os.getpid()  # (a fork's copy of this store is the parent's: never closed by the fork)
        _OPEN.append(_weakref.ref(self))

    def _ensure_schema(self) -> None:
        """Create or upgrade the tables; the common case (already current) is one PRAGMA read."""
        if self._schema_version() == SCHEMA_VERSION:
            return
        driver = _sqlite_driver()
        try:
            self.db.execute("PRAGMA journal_mode = WAL")
        except driver.OperationalError:
            pass  # another process is switching it at the same moment; WAL is persistent
        with self.transaction():  # two processes upgrading at once: the second finds it done
            version = self._schema_version()
            if version == SCHEMA_VERSION:
                return
            for statement in filter(str.strip, SCHEMA.split(";")):
                self.db.execute(statement)
            for table, column, declaration in ADDED_COLUMNS:
                if column not in {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _schema_version(self) -> int:
        version: int = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:  # (the caller closes the connection, after any rollback)
            raise StateError(f"{self.path} was written by a newer Symphony (state schema {version}, this one "
                             f"reads up to {SCHEMA_VERSION}): upgrade Symphony, or set SYMPHONY_HOME to another directory")
        return version

    def close(self) -> None:
        self.db.close()
        self._open = False

    def __del__(self, _getpid: Callable[[], int] = os.getpid) -> None:
        # A connection sits in a reference cycle (its statement cache refers back to it), so a store
        # dropped unclosed would keep the database's files open until the next garbage collection: a
        # launch's fork (see closed_for_fork) would then have to run one, for tens of milliseconds.
        # (os.getpid bound at definition: at interpreter shutdown this module's globals may be gone)
        try:
            if getattr(self, "_open", False) and getattr(self, "_pid", None) == _getpid():
                self.close()
        except Exception:
            pass  # (another thread's connection: left to the collector)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: take the write lock now, so check-then-write is atomic."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # --- settings (current experiment per backend, ...) ---------------------------
    def get_setting(self, key: str, default: Optional[str] = None) -> Optional[str]:
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: Optional[str]) -> None:
        with self.transaction():
            if value is None:
                self.db.execute("DELETE FROM settings WHERE key = ?", (key,))
            else:
                self.db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    # --- experiments --------------------------------------------------------------
    def experiment_names(self, backend: str) -> List[str]:
        rows = self.db.execute("SELECT name FROM experiments WHERE backend = ? ORDER BY created", (backend,))
        return [row[0] for row in rows]

    def get_experiment(self, backend: str, name: str, brief: bool = False) -> Optional[sqlite3.Row]:
        """The experiment's row; ``brief``: without its spec and plan, which grow with its processes
        (``symphony p`` of 1,000 processes needs neither, and reading them took longer than its rows)."""
        columns = _BRIEF_COLUMNS if brief else "*"
        row: Optional[sqlite3.Row] = self.db.execute(
            f"SELECT {columns} FROM experiments WHERE backend = ? AND name = ?", (backend, name)).fetchone()
        return row

    def insert_experiment(self, backend: str, name: str, run_id: str, spec: Mapping[str, Any],
                          plan: Mapping[str, Any], processes: Sequence[Mapping[str, Any]]) -> None:
        """Record a new experiment and its processes; caller holds a transaction."""
        import json
        self.db.execute(
            "INSERT INTO experiments (backend, name, run_id, created, status, spec, plan) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (backend, name, run_id, time.time(), ExperimentStatus.STARTING, json.dumps(spec), json.dumps(plan)))
        self.db.executemany(
            "INSERT INTO processes (backend, experiment, key, grp, name, position, status, log_path) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(backend, name, p["key"], p["group"] or "", p["name"], i, ProcessState.PENDING, p["log_path"])
             for i, p in enumerate(processes)])

    def update_experiment(self, backend: str, name: str, **fields: Any) -> None:
        self._update("experiments", "backend = ? AND name = ?", (backend, name), fields)

    def delete_experiment(self, backend: str, name: str) -> None:
        with self.transaction():
            for table, column in (("processes", "experiment"), ("ports", "experiment"), ("experiments", "name")):
                self.db.execute(f"DELETE FROM {table} WHERE backend = ? AND {column} = ?", (backend, name))

    def count_adoption(self, backend: str, name: str) -> None:
        """One more re-adoption of the experiment by a new supervisor (``symphony p`` says how many)."""
        with self.transaction():
            self.db.execute("UPDATE experiments SET adoptions = adoptions + 1 WHERE backend = ? AND name = ?",
                            (backend, name))

    def claim_supervision(self, backend: str, name: str, dead_pid: Optional[int],
                          claimant: Optional[int] = None) -> bool:
        """Replace the supervisor pid ``dead_pid`` (a supervisor that died) of a running experiment by
        ``claimant``, the live process that is starting the next one; True for the one caller that did
        (conditioned on the dead pid, so two concurrent callers never both win, and whoever looks
        while the next supervisor starts sees a live pid, not a dead one or none, and starts no other)."""
        with self.transaction():
            claimed = self.db.execute(
                "UPDATE experiments SET supervisor_pid = ? WHERE backend = ? AND name = ? AND supervisor_pid IS ? "
                "AND status = ?", (claimant, backend, name, dead_pid, ExperimentStatus.RUNNING))
        return claimed.rowcount == 1

    def mark_started(self, backend: str, name: str, started: float) -> None:
        """Every process of the experiment started at ``started``, and the experiment running: one transaction."""
        with self.transaction():
            self.db.execute("UPDATE processes SET status = ?, started = ? WHERE backend = ? AND experiment = ?",
                            (ProcessState.RUNNING, started, backend, name))
            self.db.execute("UPDATE experiments SET status = ? WHERE backend = ? AND name = ?",
                            (ExperimentStatus.RUNNING, backend, name))

    def plan_field(self, backend: str, name: str, field: str) -> Any:
        """One top-level field of the experiment's stored plan (None if absent), read by SQLite:
        parsing a 100-process plan in Python costs milliseconds on every query."""
        found = self.db.execute("SELECT json_extract(plan, ?) FROM experiments WHERE backend = ? AND name = ?",
                                (f"$.{field}", backend, name)).fetchone()
        return found[0] if found else None

    def restart_policies(self, backend: str, name: str) -> Dict[str, str]:
        """``{process key: restart policy}`` from the experiment's stored plan (read by SQLite)."""
        rows = self.db.execute(
            "SELECT json_extract(process.value, '$.key'), json_extract(process.value, '$.restart_policy') "
            "FROM experiments, json_each(experiments.plan, '$.processes') AS process "
            "WHERE experiments.backend = ? AND experiments.name = ?", (backend, name)).fetchall()
        return {key: policy for key, policy in rows}

    # --- processes ----------------------------------------------------------------
    def processes(self, backend: str, experiment: str) -> List[sqlite3.Row]:
        rows: List[sqlite3.Row] = self.db.execute(
            "SELECT * FROM processes WHERE backend = ? AND experiment = ? ORDER BY position",
            (backend, experiment)).fetchall()
        return rows

    def get_process(self, backend: str, experiment: str, key: str) -> Optional[sqlite3.Row]:
        row: Optional[sqlite3.Row] = self.db.execute(
            "SELECT * FROM processes WHERE backend = ? AND experiment = ? AND key = ?",
            (backend, experiment, key)).fetchone()
        return row

    def update_process(self, backend: str, experiment: str, key: str, **fields: Any) -> None:
        self._update("processes", "backend = ? AND experiment = ? AND key = ?", (backend, experiment, key), fields)

    def update_processes(self, backend: str, experiment: str, updates: Mapping[str, Mapping[str, Any]],
                         experiment_fields: Optional[Mapping[str, Any]] = None,
                         if_status: Optional[ExperimentStatus] = None) -> bool:
        """Several process updates in one transaction: ``{key: {column: value}}``, and the experiment's
        ``experiment_fields`` with them. One commit for a batch: a launch of 1,000 processes is one
        write, not 1,000 (each a lock, a WAL append and, for readers, a changed database).
        ``if_status``: only if the experiment's row has that status (a start that a delete overtook
        writes nothing); returns whether the updates were written."""
        with self.transaction():
            if if_status is not None:
                row = self.db.execute("SELECT status FROM experiments WHERE backend = ? AND name = ?",
                                      (backend, experiment)).fetchone()
                if row is None or row["status"] != if_status:
                    return False
            for key, fields in updates.items():
                self._execute_update("processes", "backend = ? AND experiment = ? AND key = ?",
                                     (backend, experiment, key), fields)
            if experiment_fields:
                self._execute_update("experiments", "backend = ? AND name = ?", (backend, experiment),
                                     experiment_fields)
        return True

    def _update(self, table: str, where: str, params: Tuple[Any, ...], fields: Mapping[str, Any]) -> None:
        with self.transaction():
            self._execute_update(table, where, params, fields)

    def _execute_update(self, table: str, where: str, params: Tuple[Any, ...], fields: Mapping[str, Any]) -> None:
        if fields:
            assignments = ", ".join(f"{column} = ?" for column in fields)
            self.db.execute(f"UPDATE {table} SET {assignments} WHERE {where}", (*fields.values(), *params))

    # --- ports --------------------------------------------------------------------
    def reserved_ports(self, excluding: Optional[Tuple[str, str]] = None) -> Set[int]:
        """Every reserved port; ``excluding=(backend, experiment)`` leaves that experiment's out."""
        if excluding is None:
            return {row[0] for row in self.db.execute("SELECT port FROM ports")}
        return {row[0] for row in self.db.execute("SELECT port FROM ports WHERE NOT (backend = ? AND experiment = ?)",
                                                  excluding)}

    def service_port(self, backend: str, experiment: str, service: str) -> Optional[int]:
        """The port reserved for ``service`` of the experiment, None if it has no such service."""
        row = self.db.execute("SELECT port FROM ports WHERE backend = ? AND experiment = ? AND service = ?",
                              (backend, experiment, service)).fetchone()
        return row[0] if row else None

    def reserve_ports(self, backend: str, experiment: str, ports: Mapping[str, int]) -> None:
        """Record service -> port for an experiment; caller holds a transaction."""
        self.db.executemany("INSERT INTO ports (port, backend, experiment, service) VALUES (?, ?, ?, ?)",
                            [(port, backend, experiment, service) for service, port in ports.items()])


#: the stores this process opened (weak references): closed for the moment of a fork (:func:`closed_for_fork`)
_OPEN: list[Any] = []


@contextlib.contextmanager
def closed_for_fork() -> Iterator[None]:
    """Close this process's connections to state databases for the moment of a ``fork()``, then reopen them.

    SQLite keeps per-process records of the files it has open (their POSIX locks, the WAL's shared
    memory). A child forked while a connection is open inherits a copy of them, and a connection it
    opens itself then works on that copy of the parent's bookkeeping (locks it does not hold, a mapping
    it cannot lock): SQLite's rule is that no connection crosses a fork. Closed here, there is none.
    Only the parent reopens (the child never leaves the ``with``: it ``exec``s or exits)."""
    stores = [store for store in (reference() for reference in _OPEN) if store is not None and store._open]
    if any(store.db.in_transaction for store in stores):
        raise StateError("a state database transaction is open: cannot fork now")
    _OPEN.clear()  # (reopening registers them again)
    for store in stores:
        store.close()
    parent = os.getpid()
    try:
        if _database_files_open():
            # a connection closed while a statement of it lived on (a cursor held by a traceback, a
            # cycle) stays open until that statement goes: collect what nothing reaches, then look again
            import gc
            gc.collect()
            if _database_files_open():
                raise StateError("a state database connection of this process is still open: cannot fork now")
        yield
    finally:
        if os.getpid() == parent:
            for store in stores:
                _reconnect(store)


def _reconnect(store: StateStore) -> None:
    """Open ``store``'s connection again after a fork; a moment's failure (the file busy, descriptors
    short) is retried, as the fork has happened and the launch must be able to roll back."""
    for attempt in range(20):
        try:
            store._connect()
            return
        except Exception:
            if attempt == 19:
                raise
            time.sleep(0.05)


def _database_files_open() -> bool:
    """Whether any file descriptor of this process refers to a state database or its WAL files:
    then SQLite still holds records of it, whatever connection objects say."""
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return True  # (cannot tell: assume the worst)
    for fd in descriptors:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.endswith(("/state.db", "/state.db-wal", "/state.db-shm", "/state.db-journal")):
            return True
    return False
