"""The per-experiment supervisor of the local backend.

Why a supervisor: the launching Python process may exit right after ``launch``
(it usually does), yet someone must reap the processes, record how they ended,
restart them by policy and keep the log index. One small daemon per experiment
does that; it is double-forked with no terminal, so closing the terminal that
launched the experiment changes nothing.

A launcher with one thread forks it as the launch begins (:func:`forked_start`): the fork has
every module it needs imported already, splits into the guardian and the supervisor while the
launcher plans and records the experiment, starts the processes on the launcher's word, and only
then ``exec``s a clean interpreter of its own (:func:`_hand_over`), which keeps its pid and so its
children, and sheds the launcher's memory and state. A launcher with threads (a fork keeps only
the calling thread, and a lock another one held stays held) starts it as ``python -m
symphony.local.supervisor <backend> <experiment> --wait`` instead (without the ``site`` step:
:data:`symphony.local.boot.SUPERVISOR_BOOT`), its interpreter starting while the launch plans.
Either way it waits for the launcher's word (``go`` on its stdin, once the experiment is
recorded; the end of the file if the launch failed first), and reads the plan from the state
database. It reports readiness on its stdout (a pipe to the launcher): ``started <count>`` as
processes start (at most one line per ``STARTED_REPORT_INTERVAL``, so the launcher can show
progress on a terminal), then ``ok`` once every process has started, or ``error <message>``
after stopping whatever it had started.

**The guardian, and who replaces a supervisor that died.** The daemon's second fork keeps
its parent alive as the supervisor's *guardian*, a child subreaper that sleeps in
``waitid`` while the supervisor lives. If the supervisor dies (``kill -9``, the OOM
killer), its processes become the guardian's children, and the guardian

* records how each of them ends in ``<log dir>/exits/<pid>`` before it reaps it (only a
  parent learns a wait status, and the next supervisor is not their parent: without the
  record, ``OnFailure`` would re-run work that succeeded and a signal would look like an exit);
* starts the next supervisor itself, at once (backing off if supervisors keep dying
  quickly), as its own child: restarts go on with nobody running the CLI. The guardian
  is the one process sure to learn of the death the moment it happens (it is the
  parent), and it has no work of its own that could kill it. A query (``symphony p``,
  ``logs``) still starts a new supervisor if the guardian died too. Whoever replaces a
  supervisor first claims the experiment's row, conditioned on the dead pid, so exactly
  one replacement runs.

The replacement *adopts* the running processes: it watches each through a pidfd (woken
when it ends, whoever its parent is), takes its end from the guardian's record, and
restarts it by policy. Only if the guardian died too is an ending unknown; the process
is then recorded as ``lost``.

**No moment at which a death loses or duplicates anything.** A start and an end are each
durable before the supervisor goes on:

* an end: the supervisor sees it with ``waitid(WNOWAIT)``, which leaves the process a
  zombie; it writes the ``exits/<pid>`` record itself, then reaps it, then updates the
  state. Killed before the record, the zombie passes to the guardian, which records it;
  after it, the adopter finds the record;
* a start: the process carries its key (``SYMPH_PROCESS``) and the run id, and leads its
  own session. A replacement that finds a row waiting for its restart first looks for a
  live process of the run with that key (the top one, oldest by start ticks): found, the
  restart happened before the death and that process is adopted, not started again.

**Cost flat in the number of processes.** Nothing is scanned periodically: children's
ends arrive as SIGCHLD (through the wakeup fd), adopted processes' as pidfd events, log
growth (for the ``--since`` index) as inotify events, at most one index pass per
``INDEX_INTERVAL``, and restarts as the one nearest deadline. An idle experiment of
1,000 processes wakes its supervisor never. Processes inherit the variables they all
share (thousands of service addresses) from the supervisor's own environment, set once,
rather than each being handed a whole environment to convert; state changes are written
in one transaction per batch; the stored plan holds the shared variables once.

The supervisor is a child subreaper as well: processes that daemonise are
re-parented to it rather than to init, so it reaps them too.
"""

import ctypes
import os
import select
import signal
import struct
import subprocess
import sys
import time

from ..host import plainjson
from ..host.logs import INDEX_INTERVAL, IndexWriter
from ..host.plan import LocalPlan, stored_shared_env
from ..host.processes import RUN_ID_VAR, all_pids, proc_stat, run_process_keys, signal_name, stop_run
from ..host.restarts import failures_in_a_row, restart_delay, should_restart
from ..state import ExperimentStatus, StateStore, open_private
from ..status import ProcessState
from .guardian import (Guardian, ended_on_purpose, exit_records, exits_dir, forget_exit, log_dir_of, peek_child,
                       read_exit, record_exit, say)

PR_SET_CHILD_SUBREAPER = 36
#: how long an adopted process that became a zombie may wait for its guardian to record its status
EXIT_RECORD_WAIT_SECONDS = 5.0
#: how often an adopted zombie is looked at again while its guardian writes its record
EXIT_RECORD_RECHECK_SECONDS = 0.02
#: what is polled, and how often, where the kernel gives no event (no pidfd, no inotify)
FALLBACK_POLL_SECONDS = 0.5
#: at most one ``started <count>`` line per this many seconds while the processes start (one write each:
#: the launcher draws its progress line no oftener, and a thousand starts cost it no thousand wake-ups)
STARTED_REPORT_INTERVAL = 0.1


class Supervised:
    """Book-keeping of one planned process."""

    def __init__(self, plan):
        self.plan = plan
        self.pid = None
        self.started = None
        self.restarts = 0
        self.failures_in_a_row = 0
        self.restart_at = None  # when to restart it, on the monotonic clock (a wall-clock step must not delay it)
        self.adopted = False  # started by a previous supervisor: not our child, so watched through a pidfd
        self.pidfd = None  # (adopted) readable once it ends
        self.recheck_at = None  # (adopted) when to look again (monotonic): no pidfd, or its record not written yet
        self.start_ticks = None  # when ``pid`` started, in clock ticks since boot: with it, the process's identity
        self.unrecorded_since = None  # when (monotonic) an adopted process was first seen ended, status unrecorded
        self.last_pid = None  # the pid of its last run, once ended (its end's record is removed once in the state)
        self.index = IndexWriter(plan.log_path)

    @property
    def running(self):
        return self.pid is not None


class LogWatch:
    """Which logs grew, from the kernel (inotify), so the ``--since`` index is kept without looking
    at every log every half second: an idle experiment costs nothing, however many processes.

    After a batch of events the watch rests for ``INDEX_INTERVAL`` (the kernel queues and merges
    what happens meanwhile), so a process that writes constantly costs two index passes a second.
    Without inotify (or a watch for a log), those logs are looked at every ``INDEX_INTERVAL``.
    """

    IN_MODIFY, IN_Q_OVERFLOW, IN_NONBLOCK, IN_CLOEXEC = 0x2, 0x4000, 0o4000, 0o2000000

    def __init__(self, children):
        self.fd, self.by_wd, self.dirty = None, {}, set()
        self.unwatched = list(children)
        self.resting_until = None
        self.last_poll = 0.0
        try:
            self.libc = ctypes.CDLL(None, use_errno=True)
            fd = self.libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
        except (OSError, AttributeError):
            return
        if fd < 0:
            return
        self.fd, self.unwatched = fd, []
        for child in children:
            wd = self.libc.inotify_add_watch(fd, os.fsencode(child.plan.log_path), self.IN_MODIFY)
            if wd < 0:
                self.unwatched.append(child)  # (the per-user watch limit: polled instead)
            else:
                self.by_wd[wd] = child
        self.dirty.update(self.by_wd.values())  # what the processes wrote before their logs were watched
        self.flush(time.monotonic())

    @property
    def listening(self):
        return self.fd is not None and self.resting_until is None

    def read(self, now):
        """Take the queued events; index the grown logs now unless a pass was made less than an interval ago."""
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            data = b""
        offset = 0
        while offset + 16 <= len(data):
            wd, mask, _, length = struct.unpack_from("iIII", data, offset)
            offset += 16 + length
            if mask & self.IN_Q_OVERFLOW:
                self.dirty.update(self.by_wd.values())
            elif wd in self.by_wd:
                self.dirty.add(self.by_wd[wd])
        self.resting_until = now + INDEX_INTERVAL
        self.flush(now)

    def flush(self, now):
        for child in self.dirty:
            child.index.update(time.time(), force=True)
        self.dirty.clear()

    def due(self, now):
        """Work whose time came: the end of a rest (listen again), logs without a watch."""
        if self.resting_until is not None and now >= self.resting_until:
            self.resting_until = None
        if self.unwatched and now - self.last_poll >= INDEX_INTERVAL:
            self.last_poll = now
            for child in self.unwatched:
                child.index.update()

    def timeout(self, now):
        deadlines = [self.resting_until] if self.resting_until is not None else []
        if self.unwatched:
            deadlines.append(self.last_poll + INDEX_INTERVAL)
        return min(deadlines) - now if deadlines else None


class Supervisor:
    def __init__(self, store, plan, shared_env=None):
        """``plan``'s processes hold the variables of their own, ``shared_env`` those they all have (as
        the plan is stored); or each holds its whole environment, and ``shared_env`` is None."""
        self.store = store
        self.plan = plan
        self.children = [Supervised(p) for p in plan.processes]
        self.exits = exits_dir(log_dir_of(plan))
        self.by_pid = {}
        self.by_pidfd = {}
        self.poller = None  # (run) what the pidfds are polled with, while they are
        self.stopping = False
        os.environ.update(shared_env or {})  # every process's environment but its own variables (see spawn)
        self.logs = None
        #: the readiness checks and held starts (symphony.local.readiness); None (and free) without any
        self.readiness = None
        #: checks to begin once the processes are started (see :meth:`_begin_readiness`)
        self.readiness_due = False
        if plan.has_readiness:
            if any(process.waits for process in plan.processes):
                self._begin_readiness()
            else:
                self.readiness_due = True

    def _begin_readiness(self):
        """Set up the readiness checks, of the processes running so far too.

        Unless a process is held for a service (then the checks decide its start), nothing needs
        them before every process has started: begun after the last start, their import (sockets,
        threads, the probes and the tracker: a good part of the supervisor's start-up) never delays
        the first one, unless the launcher planned long enough for it to be done already (``_preload``).
        Nothing a check finds is lost meanwhile: the first check of each service runs at once."""
        from .readiness import Readiness, readiness_path
        self.readiness, self.readiness_due = Readiness(self.children, readiness_path(self.plan)), False
        for child in self.children:
            if child.pid is not None:
                self.readiness.provider_started(child)

    # --- starting -----------------------------------------------------------------
    def spawn(self, child):
        """Start one process (no state update: the caller records a batch in one transaction).

        Its environment is this process's own, changed for the moment of the start: ``subprocess``
        handed an explicit environment converts it in a Python loop, a second of CPU per hundred
        processes once each holds a thousand service addresses; the inherited one costs nothing.
        """
        spec = child.plan
        saved = {name: os.environ.get(name) for name in spec.env}
        os.environ.update(spec.env)
        try:
            with open_private(spec.log_path, "a") as log:
                popen = subprocess.Popen(spec.argv, cwd=spec.cwd, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            for name, value in saved.items():
                if value is None:
                    del os.environ[name]
                else:
                    os.environ[name] = value
        popen.returncode = 0  # we reap with waitid(); keep Popen from reaping or warning
        pid = popen.pid
        stat = proc_stat(pid)  # (not reaped yet: readable even if it already ended)
        child.pid, child.started, child.restart_at, child.adopted = pid, time.time(), None, False
        child.start_ticks = stat.start_ticks if stat else None
        self.by_pid[pid] = child
        if self.readiness is not None:
            self.readiness.provider_started(child)

    def environment_of(self, child):
        """``(environment, cwd)`` ``child`` runs in (a command check runs there too)."""
        return {**os.environ, **child.plan.env}, child.plan.cwd

    @staticmethod
    def _running_fields(child):
        return dict(status=ProcessState.RUNNING, pid=child.pid, start_ticks=child.start_ticks, started=child.started,
                    exit_code=None, signal=None, finished=None, restarts=child.restarts)

    def _record(self, updates):
        if updates:
            self.store.update_processes(self.plan.backend, self.plan.experiment, updates)

    def start_all(self, started=None):
        """Start every process, except those held until the services they wait for are ready; then
        record them in one transaction, unless a delete came first (then ``stopping`` is set: the
        caller stops what was started).

        ``started(count)`` is told how many have started so far: after the first start, then at
        most once per ``STARTED_REPORT_INTERVAL`` (the last count is the caller's ``ok``)."""
        updates = {}
        count, reported_at = 0, None
        for child in self.children:
            if self.stopping:  # a delete overtook the start (see supervise)
                break
            if child.plan.waits:
                self.readiness.hold(child)
                open_private(child.plan.log_path, "a").close()  # (there for `logs`, and watched like the others')
                updates[child.plan.key] = dict(status=ProcessState.WAITING, pid=None, started=None)
            else:
                self.spawn(child)
                updates[child.plan.key] = self._running_fields(child)
                if started is not None:
                    count += 1
                    now = time.monotonic()
                    if reported_at is None or now - reported_at >= STARTED_REPORT_INTERVAL:
                        started(count)
                        reported_at = now
        if self.readiness_due:
            self._begin_readiness()
        if self.readiness is not None:
            self.readiness.flush()
        if not self.store.update_processes(self.plan.backend, self.plan.experiment, updates,
                                           experiment_fields={"status": ExperimentStatus.RUNNING},
                                           if_status=ExperimentStatus.STARTING):
            self.stopping = True  # deleted (or being deleted) meanwhile: nothing of it may run on

    def start_held(self):
        """Start the held processes whose services are ready (or whose deadline says start anyway);
        record those whose deadline says not to start as ``failed``."""
        start, fail = self.readiness.due_starts()
        if not start and not fail:
            return
        now, updates = time.time(), {}
        for child, _ in start:
            if self.stopping:
                break
            try:
                self.spawn(child)
            except OSError as exc:
                updates[child.plan.key] = dict(status=ProcessState.EXITED, exit_code=127, finished=now)
                print(f"start of {child.plan.key} failed: {exc}", file=sys.stderr, flush=True)
            else:
                updates[child.plan.key] = self._running_fields(child)
        for child, reason in fail:
            updates[child.plan.key] = dict(status=ProcessState.FAILED, pid=None, finished=now)
            print(f"{child.plan.key}: {reason}", file=sys.stderr, flush=True)
        self.readiness.flush()  # (first: whoever sees the rows change finds the readiness that changed them)
        self._record(updates)

    # --- reaping and restarting ---------------------------------------------------
    def reap(self):
        """Reap every child that ended, each one's end made durable first (see the module's docstring)."""
        ended = []
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if info is None:
                break
            child = self.by_pid.pop(info.si_pid, None)
            if child is None and self.readiness is not None and self.readiness.is_check(info.si_pid):
                code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
                os.waitpid(info.si_pid, 0)
                self.readiness.reaped(info.si_pid, code)
                continue
            if child is not None:
                code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
                record_exit(self.exits, info.si_pid, code)
                ended.append((child, code))
            try:
                os.waitpid(info.si_pid, 0)
            except ChildProcessError:
                pass
        if ended:
            self._record({child.plan.key: self.finished(child, code) for child, code in ended})
            for child, _ in ended:
                forget_exit(self.exits, child.last_pid)

    def adopt(self, rows, run_id):
        """Take over the processes of a supervisor that died (killed, OOM...).

        Every process its row says is running is adopted, live or not: its pidfd says when it
        ends, and its end is the record the supervisor or its guardian wrote. A process whose
        row waits for its restart is started now, unless the dead supervisor had started it
        already: a live process of the run carrying its key is that restart, adopted.
        """
        if self.readiness_due:
            self._begin_readiness()
        rows = {row["key"]: row for row in rows}
        keys = None
        found = {}
        for child in self.children:
            row = rows[child.plan.key]
            child.restarts, child.started = row["restarts"], row["started"] or time.time()
            if row["status"] == ProcessState.RUNNING and row["pid"]:
                child.pid, child.adopted = row["pid"], True
                child.start_ticks = row["start_ticks"]  # exact: a process that reused the pid has other ticks
                if child.start_ticks is None:
                    # a row an older Symphony wrote has no ticks: the pid is ours if it still carries the
                    # run id, or is a zombie (it ended; its guardian records how)
                    keys = run_process_keys(run_id) if keys is None else keys
                    stat = proc_stat(child.pid)
                    if stat is not None and (child.pid in keys or stat.state == "Z"):
                        child.start_ticks = stat.start_ticks
                self._watch(child)
            elif row["status"] == ProcessState.WAITING and self.readiness is not None and child.plan.waits:
                self.readiness.hold(child)
            elif row["status"] == ProcessState.RESTARTING:
                keys = run_process_keys(run_id) if keys is None else keys
                orphan = _started_for(child.plan.key, keys)
                if orphan is None:
                    child.restart_at = time.monotonic()
                    continue
                pid, stat = orphan
                child.pid, child.adopted, child.start_ticks = pid, True, stat.start_ticks
                child.restarts += 1
                child.started = time.time()
                found[child.plan.key] = self._running_fields(child)
                self._watch(child)
        self._record(found)
        self._providers_started()
        for name in exit_records(self.exits):  # records of ends already in the state
            if not any(c.adopted and str(c.pid) == name for c in self.children):
                forget_exit(self.exits, name)

    def resume(self, rows):
        """Take up the processes this very process started before it handed over (``exec``): the rows
        say which run, and they are still its children (an ``exec`` keeps the pid and the children),
        reaped as any other, so nothing is adopted. Nothing else was due before the hand-over."""
        if self.readiness_due:
            self._begin_readiness()
        rows = {row["key"]: row for row in rows}
        for child in self.children:
            row = rows.get(child.plan.key)
            if row is None:  # deleted meanwhile (then this supervisor stops): what runs is still its child
                row = {"restarts": 0, "started": None, "status": None}
            child.restarts, child.started = row["restarts"], row["started"]
            if row["status"] == ProcessState.RUNNING and row["pid"]:
                child.pid, child.start_ticks = row["pid"], row["start_ticks"]
                self.by_pid[child.pid] = child
            elif row["status"] == ProcessState.WAITING and self.readiness is not None and child.plan.waits:
                self.readiness.hold(child)
        self._providers_started()

    def _providers_started(self):
        """Tell the readiness checks (if any) which processes run, once they were taken over."""
        if self.readiness is not None:
            for child in self.children:
                if child.pid is not None:
                    self.readiness.provider_started(child)

    def _watch(self, child):
        """Be told when the adopted ``child`` ends; look at it once now (it may have ended, or be another's)."""
        child.recheck_at = time.monotonic()
        try:
            child.pidfd = os.pidfd_open(child.pid)
        except (OSError, AttributeError):  # already gone (ESRCH), or no pidfds here: look now, then poll
            child.pidfd, child.recheck_at = None, time.monotonic()
            return
        self.by_pidfd[child.pidfd] = child

    def _unwatch(self, child):
        """Close ``child``'s pidfd (it fired, or its end was found otherwise): from here on it is looked at by
        time (``recheck_at``), and a closed descriptor left in the poller would make every poll return at once."""
        if child.pidfd is not None:
            if self.by_pidfd.pop(child.pidfd, None) is not None and self.poller is not None:
                try:
                    self.poller.unregister(child.pidfd)
                except KeyError:
                    pass
            os.close(child.pidfd)
            child.pidfd = None

    def check_adopted(self, child):
        """Record the end of an adopted process that ended, with its recorded status; True if it ended."""
        stat = proc_stat(child.pid)
        ours = stat is not None and stat.start_ticks == child.start_ticks
        # "X": being reaped by its guardian at this very moment (which recorded its end first): ended too
        if ours and stat.state not in ("Z", "X"):
            if child.pidfd is None:
                child.recheck_at = time.monotonic() + FALLBACK_POLL_SECONDS
            return None
        code = read_exit(self.exits, child.pid, child.start_ticks)
        if code is None and ours:  # a zombie: its guardian records its status before reaping it
            child.unrecorded_since = child.unrecorded_since or time.monotonic()
            if time.monotonic() - child.unrecorded_since < EXIT_RECORD_WAIT_SECONDS:
                child.recheck_at = time.monotonic() + EXIT_RECORD_RECHECK_SECONDS
                return None
        self._unwatch(child)
        child.recheck_at = None
        return self.finished(child, code)

    def poll_adopted(self, ready=()):
        """Look at the adopted processes whose pidfd fired (``ready``) or whose recheck is due."""
        now = time.monotonic()
        updates = {}
        for child in self.children:
            if child.adopted and (child in ready or (child.recheck_at is not None and child.recheck_at <= now)):
                child.recheck_at = None
                fields = self.check_adopted(child)
                if fields is not None:
                    updates[child.plan.key] = fields
        self._record(updates)

    def finished(self, child, code):
        """Note how ``child`` ended, decide its restart, and return its row's new fields.

        ``code``: the exit code, minus the killing signal, or None if nobody could observe
        the end (then the process is ``lost`` and counts as a failure for ``OnFailure``).
        """
        now = time.time()
        child.index.update(now, force=True)
        if code is None:
            exit_code, killed_by, state = None, None, ProcessState.LOST
        elif code >= 0:
            exit_code, killed_by, state = code, None, ProcessState.EXITED
        else:
            exit_code, killed_by, state = None, signal_name(-code), ProcessState.KILLED
        ran_for = _ran_for(child, now)
        if self.readiness is not None:
            self.readiness.provider_ended(child)
        child.last_pid = child.pid
        child.pid, child.adopted, child.start_ticks, child.unrecorded_since = None, False, None, None
        fields = dict(pid=None, start_ticks=None, exit_code=exit_code, signal=killed_by, finished=now, status=state)
        if not self.stopping and should_restart(child.plan.restart_policy, exit_code, killed_by):
            child.failures_in_a_row = failures_in_a_row(ran_for, child.failures_in_a_row)
            child.restart_at = time.monotonic() + restart_delay(self.plan.restart_backoff, child.failures_in_a_row)
            fields["status"] = ProcessState.RESTARTING
        return fields

    def restart_due(self):
        due, now = time.monotonic(), time.time()
        updates = {}
        for child in self.children:
            if child.restart_at is not None and child.restart_at <= due and not self.stopping:
                child.restarts += 1
                try:
                    self.spawn(child)
                except OSError as exc:
                    child.restart_at = None
                    updates[child.plan.key] = dict(status=ProcessState.EXITED, exit_code=127, finished=now,
                                                   restarts=child.restarts)
                    print(f"restart of {child.plan.key} failed: {exc}", file=sys.stderr, flush=True)
                else:
                    updates[child.plan.key] = self._running_fields(child)
        self._record(updates)

    def all_done(self):
        held = self.readiness.held if self.readiness is not None else ()
        return all(not c.running and c.restart_at is None and c not in held for c in self.children)

    def next_timeout(self):
        """Seconds until the nearest thing due (a restart, an adopted process to look at again, the log
        watch's rest), None if nothing is: then only an event wakes the supervisor."""
        now = time.monotonic()
        deadlines = [c.restart_at for c in self.children if c.restart_at is not None]
        deadlines += [c.recheck_at for c in self.children if c.recheck_at is not None]
        if self.logs is not None and (logs := self.logs.timeout(now)) is not None:
            deadlines.append(now + logs)
        if self.readiness is not None and (due := self.readiness.next_deadline()) is not None:
            deadlines.append(now + (due - time.time()))
        return max(0.0, min(deadlines) - now) if deadlines else None

    # --- stopping -----------------------------------------------------------------
    def stop_all(self):
        """Stop every process of the run (their descendants too), then record how they ended."""
        self.stopping = True
        stop_run(self.plan.run_id, grace=self.plan.grace,
                 recorded=[(c.pid, c.start_ticks) for c in self.children if c.pid is not None])
        self.reap()

    def run(self, wakeup_fd):
        if self.readiness_due:
            self._begin_readiness()
        self.logs = LogWatch(self.children)
        poller = self.poller = select.poll()
        poller.register(wakeup_fd, select.POLLIN)
        readiness = self.readiness
        if readiness is not None:
            poller.register(readiness.wake_read, select.POLLIN)
            readiness.register = lambda fd: poller.register(fd, select.POLLOUT)
            readiness.unregister = poller.unregister
        for fd in self.by_pidfd:
            poller.register(fd, select.POLLIN)
        listening = False
        while not self.stopping:
            if self.all_done():  # (first thing: all may have ended before this loop began, e.g. during a hand-over)
                if readiness is not None:
                    readiness.close()
                self.logs.flush(time.time())
                self.store.update_experiment(self.plan.backend, self.plan.experiment, status=ExperimentStatus.FINISHED)
                return
            now = time.monotonic()
            self.logs.due(now)
            if self.logs.listening != listening:
                listening = self.logs.listening
                (poller.register(self.logs.fd, select.POLLIN) if listening else poller.unregister(self.logs.fd))
            timeout = self.next_timeout()
            try:
                events = poller.poll(None if timeout is None else max(1, int(timeout * 1000 + 0.999)))
            except InterruptedError:
                events = []
            fired = set()
            for fd, _ in events:
                if fd == wakeup_fd:
                    try:
                        os.read(wakeup_fd, 512)
                    except BlockingIOError:
                        pass
                elif fd == self.logs.fd:
                    self.logs.read(time.monotonic())
                elif fd in self.by_pidfd:
                    child = self.by_pidfd[fd]
                    fired.add(child)
                    self._unwatch(child)  # (stays readable once it ended: looked at once, then rechecked by time)
                elif readiness is not None:
                    if fd == readiness.wake_read:
                        readiness.collect()
                    elif fd in readiness.sockets:
                        readiness.socket_event(fd)
            self.reap()
            self.poll_adopted(fired)
            if self.stopping:
                break
            self.restart_due()
            if readiness is not None:
                readiness.expire()
                readiness.run_due(self.environment_of)
                self.start_held()
                readiness.flush()
        self.stop_all()


def _started_for(key, keys):
    """``(pid, stat)`` of the live process a supervisor started for ``key`` (from ``keys``, the run's
    processes and their keys), None if there is none: the process leads its own session (it was started
    so) and none of its ancestors carries the key; the oldest by start ticks if several do (a daemon
    it left behind would be younger)."""
    candidates = {}
    for pid, found in keys.items():
        if found == key and (stat := proc_stat(pid)) is not None and stat.state != "Z" and stat.session == pid:
            candidates[pid] = stat
    tops = [(stat.start_ticks, pid) for pid, stat in candidates.items() if stat.ppid not in keys or
            keys[stat.ppid] != key]
    if not tops:
        return None
    _, pid = min(tops)
    return pid, candidates[pid]


def _ran_for(child, now):
    """How long ``child``'s run lasted, in seconds: from its start ticks where known (a wall-clock
    step in between changes nothing), else from its recorded wall-clock start."""
    if child.start_ticks is not None and hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME) - child.start_ticks / os.sysconf("SC_CLK_TCK")
    return now - (child.started or now)


def _become_subreaper():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: daemonised grandchildren go to init; delete still finds them by run id


def _to_devnull(fd):
    """Point descriptor ``fd`` (0, 1 or 2) at /dev/null: what was there is let go of."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, fd)
    os.close(devnull)


def _detach_stdio(log_path):
    _to_devnull(0)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 2)
    os.close(log)


#: the signals a supervisor acts on: held (blocked) across the ``exec`` of a hand-over, so none is lost
HANDED_OVER_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)
#: how long a supervisor forked out of the launcher waits, once every process started, before it turns into
#: a clean interpreter of its own (``exec``): that start-up (a few tens of milliseconds of CPU) would else
#: compete with the processes' own. Any signal (a process ended, a stop) ends the wait at once.
HANDOVER_SECONDS = 0.3
#: the same for its guardian, from its fork on as the launch begins (only the supervisor's end ends it sooner)
GUARDIAN_HANDOVER_SECONDS = 1.0


def supervise(backend, experiment, plan, shared_env, mode="start", report=lambda message: None,
              report_progress=lambda message: None, hand_over=None, store=None):
    """Be the supervisor of ``experiment``: start its processes, then watch them until they are done or
    the experiment is stopped. Returns the exit code.

    ``mode``: ``"start"``; ``"adopt"`` the running processes of a supervisor that died; ``"resume"``
    after a hand-over: the running processes are this process's own children, started by it before its
    ``exec``. ``report`` is told the outcome of the start (once), ``report_progress`` how far it got.
    ``hand_over``: the command line (without the backend and experiment) that this supervisor, forked out
    of the launcher, ``exec``s once its processes started (:func:`forked_start`). ``store``: the state
    store to use (by default, one of its own)."""
    _become_subreaper()  # not inherited across fork()
    store = store or StateStore()
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    supervisor = Supervisor(store, plan, shared_env)

    def request_stop(signum, frame):
        supervisor.stopping = True
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, request_stop)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDED_OVER_SIGNALS)  # (held across a hand-over: come now)
    if mode != "resume":  # (a resumed supervisor is the same process: recorded before its hand-over)
        stat = proc_stat(os.getpid())
        # before anything starts: a delete finds this supervisor by it, even before it carries the run's marker
        store.update_experiment(backend, experiment, supervisor_pid=os.getpid(),
                                supervisor_ticks=stat.start_ticks if stat else None)
    if mode == "adopt":
        supervisor.adopt(store.processes(backend, experiment), plan.run_id)
        store.count_adoption(backend, experiment)
        report("ok")
        supervisor.run(read_fd)
        return 0
    if mode == "resume":
        row = store.get_experiment(backend, experiment, brief=True)
        supervisor.resume(store.processes(backend, experiment))
        if row is None or row["status"] != ExperimentStatus.RUNNING:
            supervisor.stopping = True  # deleted (or being deleted) during the hand-over
        supervisor.reap()  # what ended during the hand-over
        supervisor.run(read_fd)
        return 0
    try:
        supervisor.start_all(started=lambda count: report_progress(f"started {count}"))
    except OSError as exc:
        supervisor.stop_all()
        program = getattr(exc, "filename", None) or ""
        report(f"error cannot start {program}: {exc.strerror or exc}")
        return 1
    if supervisor.stopping:  # deleted during the start (the launcher's own roll-back, or a delete)
        supervisor.stop_all()
        report(f"error experiment {experiment!r} was deleted during its start")
        return 0
    report("ok")
    if hand_over is not None:
        supervisor.store.close()
        _hand_over(supervisor, hand_over + [backend, experiment, "--resume"])
        supervisor.store = StateStore()  # (the exec failed: supervise on, here, with a store of its own)
        import gc
        gc.enable()
        supervisor.reap()  # (an end the hand-over's wait took)
    supervisor.run(read_fd)
    return 0


def _hand_over(supervisor, argv):
    """Turn this supervisor, forked out of the launcher, into a clean interpreter (``argv``): the same
    process, so its processes stay its children, without the launcher's memory, modules and state.

    Nothing has happened yet that only memory would hold (no restart is due, no check has run), so
    the new image rebuilds everything from the state (``--resume``). It waits ``HANDOVER_SECONDS``
    first, unless a process is held for a service (then the checks must run) or a signal comes: a
    process's end (the new image reaps it), or a stop, which this process then carries out itself
    (returning). Blocked meanwhile, a signal that comes later stays pending across the ``exec`` and
    arrives once the new image handles it. Returns on a stop, or if the ``exec`` failed."""
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDED_OVER_SIGNALS)
    if supervisor.stopping:  # a stop came during the start: stop here
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDED_OVER_SIGNALS)
        return
    held = supervisor.readiness is not None and supervisor.readiness.held
    if not held and not peek_child():  # (one that ended before the signals were blocked: its SIGCHLD came)
        caught = signal.sigtimedwait(HANDED_OVER_SIGNALS, HANDOVER_SECONDS)
        if caught is not None and caught.si_signo != signal.SIGCHLD:  # a stop: done here, no new image
            os.kill(os.getpid(), caught.si_signo)  # (taken by the wait: pending again, for its handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDED_OVER_SIGNALS)
            return
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        print(f"cannot hand over to a clean interpreter ({exc}); supervising on in the launcher's fork",
              file=sys.stderr, flush=True)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDED_OVER_SIGNALS)


def load_recorded(backend, experiment, store=None):
    """``(plan, shared env)`` of the recorded experiment, None if it is no longer recorded (read with
    ``store``, or a store of its own, closed again: a connection must not cross a fork)."""
    own = store is None
    store = StateStore() if own else store
    try:
        row = store.get_experiment(backend, experiment)
    finally:
        if own:
            store.close()
    if row is None:
        return None
    stored = plainjson.loads(row["plan"])
    return LocalPlan.from_dict(stored, whole_env=False), stored_shared_env(stored)


def supervise_recorded(backend, experiment, mode):
    """:func:`supervise` the recorded experiment (a guardian's replacement supervisor, a hand-over's new image)."""
    store = StateStore()
    recorded = load_recorded(backend, experiment, store)
    if recorded is None:  # deleted meanwhile: stop whatever of the run is still ours
        store.close()
        run_id = os.environ.get(RUN_ID_VAR)
        if run_id and mode == "resume":
            stop_run(run_id, grace=1.0, recorded=_own_children())
            _reap_all()
        return 0
    plan, shared_env = recorded
    return supervise(backend, experiment, plan, shared_env, mode, store=store)


def _own_children():
    """``[(pid, start ticks)]`` of this process's children (``/proc``): a child that cleared its environment
    lost the run's marker."""
    own = os.getpid()
    return [(pid, stat.start_ticks) for pid in all_pids() if (stat := proc_stat(pid)) is not None and stat.ppid == own]


def _reap_all():
    """Reap every child that has ended (none left running after a stop: at most a few seconds' wait)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def _daemon(backend, experiment, mode):
    """After the first fork: lead a session, detach from the terminal, split into the guardian (this
    process) and the supervisor (its child), which :func:`supervise`s."""
    os.setsid()
    recorded = _recorded_for_this_run(backend, experiment)
    if recorded is None:
        return 0
    plan, shared_env = recorded
    log_dir = log_dir_of(plan)
    _detach_stdio(os.path.join(log_dir, "supervisor.log"))
    _become_subreaper()
    supervisor_pid = os.fork()
    if supervisor_pid > 0:
        try:  # this parent stays, as the guardian; the supervisor, no session leader, can never get a terminal
            _release_stdout()
            Guardian(backend, experiment, log_dir, supervisor_pid).run()
        finally:
            os._exit(0)
    return supervise(backend, experiment, plan, shared_env, mode, report=_report, report_progress=_tell)


def forked_start(backend, experiment, log_dir, report_fd, go_fd, env, supervisor_argv, guardian_argv):
    """Start the supervisor of the experiment being launched from a fork of the launcher (called in the
    fork's child, as the launch begins).

    Why: a new interpreter and its imports (tens of milliseconds of CPU) would come before the first
    process; the launcher has everything imported already. And why as the launch begins: the forks,
    the session, the state store's connection are all made while the launcher plans and records the
    experiment (on another core), so that the launcher's word (``go`` on ``go_fd``, once the experiment
    is recorded) finds a supervisor ready to start the first process. End of file instead: the launch
    failed before it recorded anything, and the daemons end.

    The fork becomes the guardian and the supervisor as :func:`main` would (``env``: the variables the
    supervisor's command line would be given), and only once the processes had their moment does each
    turn into a clean interpreter of its own (``exec``): the supervisor (:func:`_hand_over`), and the
    guardian a little later (its start-up competes with theirs too). ``report_fd``: the pipe the
    launcher reads the start's outcome from. Never returns: this is a copy of the launcher, whose own
    exit handlers, buffers and objects must not run or be finalised here."""
    code = 1
    try:
        import gc
        gc.disable()  # (an unreachable object of the launcher's, finalised here, would act on its behalf)
        os.dup2(report_fd, 1)  # (first: whatever is said from here on goes to the launcher's pipe)
        os.dup2(go_fd, 0)
        _shed_launcher_state()
        _to_devnull(2)  # (not the launcher's terminal: the supervisor's log, once the launch made it)
        os.environ.update(env)
        if os.fork() > 0:
            os._exit(0)  # first fork's parent: the launcher reaps it
        code = _forked_daemon(backend, experiment, log_dir, supervisor_argv, guardian_argv)
    except BaseException as exc:
        _tell(f"error the supervisor's start failed: {exc!r}")
    finally:
        os._exit(code)


def _forked_daemon(backend, experiment, log_dir, supervisor_argv, guardian_argv):
    """:func:`_daemon` for a start forked out of the launcher: the guardian and the supervisor split
    before the experiment is recorded; the supervisor then waits for the launcher's ``go``."""
    os.setsid()
    _become_subreaper()
    # (blocked before the fork: a supervisor ending at once must still end the guardian's wait; supervise()
    # unblocks it in the supervisor)
    signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGCHLD,))
    supervisor_pid = os.fork()
    if supervisor_pid > 0:
        try:
            _forked_guardian(backend, experiment, log_dir, supervisor_pid, guardian_argv)
        finally:
            os._exit(0)
    # the supervisor: its connection opened now (none of the launcher's crossed the fork), then the word
    store = StateStore()
    if not _go():  # the launch failed before it recorded the experiment: nothing to supervise
        return 0
    recorded = _recorded_for_this_run(backend, experiment, store)
    if recorded is None:
        return 0
    plan, shared_env = recorded
    _detach_stdio(os.path.join(log_dir, "supervisor.log"))  # (there now: the launcher made it before its word)
    return supervise(backend, experiment, plan, shared_env, "start", report=_report, report_progress=_tell,
                     hand_over=supervisor_argv, store=store)


def _recorded_for_this_run(backend, experiment, store=None):
    """:func:`load_recorded` at a start, None (and the launcher told why) if the experiment was deleted
    before its supervisor got going, or deleted and launched again (another run): the caller then ends
    with 0, on purpose, so that no guardian replaces it."""
    recorded = load_recorded(backend, experiment, store)
    if recorded is None or recorded[0].run_id != os.environ.get(RUN_ID_VAR):
        _report(f"error experiment {experiment!r} was deleted meanwhile")
        return None
    return recorded


def _go():
    """Wait for the launcher's word on stdin: True for ``go``, False for the end of the file (it gave up)."""
    word = b""
    while not word.endswith(b"\n"):
        chunk = os.read(0, 16)
        if not chunk:
            return False
        word += chunk
    return word == b"go\n"


def _forked_guardian(backend, experiment, log_dir, supervisor_pid, guardian_argv):
    """The guardian of a forked start, until it ``exec``s its clean interpreter (``guardian_argv``):
    after ``GUARDIAN_HANDOVER_SECONDS``, or at once when the supervisor ends (the one event a guardian
    acts on), which stays pending for the new image. A supervisor that ended on purpose (exit 0: the
    launch gave up, or was overtaken by a delete, or its processes all ended) is reaped here: with no
    orphan of it left to guard, the guardian ends at once, and a launch that gave up waits for nothing
    more; else the new image guards the orphans.

    It holds the launcher's pipe until then: a roll-back reads to its end, so that it finds every
    daemon by its run marker (``os.dup``'s copy closes on ``exec``)."""
    holding = os.dup(1)
    _release_stdout()
    _to_devnull(0)  # (the launcher's word is the supervisor's to read)
    signal.sigtimedwait((signal.SIGCHLD,), GUARDIAN_HANDOVER_SECONDS)  # (blocked since before the fork)
    if ended_on_purpose(peek_child(supervisor_pid)):
        os.waitpid(supervisor_pid, 0)
        if peek_child() is False:
            os._exit(0)  # nothing to guard: gone before the launcher's pipe closes, as a roll-back expects
        supervisor_pid = 0  # only its orphans are left to guard
    try:
        os.execv(guardian_argv[0], guardian_argv + [backend, experiment, str(supervisor_pid), log_dir])
    except OSError as exc:
        say(log_dir, f"cannot start a clean guardian ({exc}); guarding in the launcher's fork")
    os.close(holding)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGCHLD,))
    Guardian(backend, experiment, log_dir, supervisor_pid).run()


def _shed_launcher_state():
    """What a fork of the launcher must not keep: its files and sockets (they stay the launcher's:
    a listening socket kept here would hold its port for the experiment's life), its Python-level
    signal handlers (default ones, and an ignored SIGCHLD would reap children unseen) and wake-up
    descriptor, the fault handler's descriptor, and Python streams over descriptors it no longer has."""
    signal.set_wakeup_fd(-1)
    for number in range(1, signal.NSIG):
        try:
            if signal.getsignal(number) not in (signal.SIG_DFL, signal.SIG_IGN, None) or number == signal.SIGCHLD:
                signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass  # (SIGKILL, SIGSTOP, numbers with no signal)
    try:
        import faulthandler
        faulthandler.disable()
    except ImportError:
        pass
    try:
        descriptors = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        descriptors = range(3, 65536)
    for fd in descriptors:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)


def main(argv=None):
    """``<backend> <experiment> [--adopt] [--wait] [--resume] [--replace]``: start the plan's processes,
    or adopt the running ones (``--replace``: as the guardian's replacement for a supervisor that died);
    ``--wait``: first wait (imports done) for the launcher's ``go`` on stdin, once it recorded the
    experiment; ``--resume``: supervise the processes this process started before its ``exec`` (a
    hand-over, see :func:`_hand_over`)."""
    argv = argv or sys.argv[1:]
    backend, experiment = argv[:2]
    if "--resume" in argv[2:]:
        return supervise_recorded(backend, experiment, "resume")
    if "--replace" in argv[2:]:  # its guardian's child already: no daemon steps
        return supervise_recorded(backend, experiment, "adopt")
    mode = "adopt" if "--adopt" in argv[2:] else "start"
    if "--wait" in argv[2:]:
        _preload()
        if sys.stdin.readline() != "go\n":
            return 0  # started early by a launch that failed before it was recorded: nothing to do
    if os.fork() > 0:
        os._exit(0)  # first fork's parent: the launcher reaps it at once
    return _daemon(backend, experiment, mode)


def _preload():
    """While the launcher still plans (no word on stdin yet), import what the start needs later: the state
    store's driver, and the readiness checks, which nearly every experiment has (every bound service has
    the default one) and whose import is as long as the rest of the supervisor's start-up. Done now, it
    costs the launch nothing; once the word has come, the checks are left for later (see
    :meth:`Supervisor._begin_readiness`), as the processes start first."""
    for module in ("sqlite3", "symphony.local.readiness"):  # (the state store imports sqlite3 when opened)
        if select.select([0], [], [], 0)[0]:
            return
        __import__(module)


def _report(message):
    """Tell the launcher how the start went, then let go of its pipe."""
    _tell(message)
    _release_stdout()


def _tell(message):
    """One line to the launcher (none if it is gone: the start goes on)."""
    try:
        os.write(1, (message + "\n").encode())
    except OSError:
        pass


def _release_stdout():
    """Let go of the launcher's pipe: it reads until the end of the file if no answer came."""
    _to_devnull(1)


if __name__ == "__main__":
    sys.exit(main())
