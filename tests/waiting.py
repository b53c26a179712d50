"""``wait_for``: poll until a condition holds (importable from every test folder: tests/ is on sys.path)."""

import time


def wait_for(predicate, timeout=20.0, interval=0.05, explain=None):
    """Return ``predicate()``'s first truthy value; fail the test after ``timeout`` seconds (saying what
    ``explain()`` returns then, if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}"
                         + (f"\n{explain()}" if explain is not None else ""))


def process_gone(pid):
    """Whether ``pid`` has ended (gone, or a zombie or being torn down), without racing its exit."""
    import psutil
    try:
        return psutil.Process(pid).status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return True
