"""Fixtures for the dashboard tests: a real dashboard server (``python -m symphony.dashboard``),
real backends, and headless Chromium from Debian driven by Selenium (nothing downloaded).

Chromium is an engine like tmux and Docker here: absent, its tests skip, unless
``SYMPHONY_REQUIRE_ENGINES`` lists ``chromium``, in which case they fail.
"""

import shutil
import subprocess
import uuid

import pytest

from dashhelpers import Dashboard
from engines import require_engine


@pytest.fixture(scope="module")
def tmux_server():
    """A private tmux server name for the module's tests, killed at the end."""
    if shutil.which("tmux") is None:
        require_engine("tmux", "tmux is not installed (apt-get install tmux)")
    name = f"symph-dash-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tmux_server):
    """The directory the dashboard runs in, with a ``.symphony.yml`` naming the three real backends
    (short grace periods, the module's tmux server); its ``home`` beside it is the state directory
    the dashboard and the tests share."""
    base = tmp_path_factory.mktemp("dashboard")
    directory = base / "work"
    directory.mkdir()
    (directory / ".symphony.yml").write_text(
        "backends:\n"
        "  local: {grace: 1.0, restart_backoff: 2.5}\n"
        f"  tmux: {{grace: 1.0, restart_backoff: 2.5, server_name: {tmux_server}}}\n"
        "  docker: {stop_timeout: 1, internal_network: true}\n")
    yield directory
    delete_leftovers(base / "home")


@pytest.fixture(scope="module")
def dashboard(workdir):
    """A dashboard over local, tmux and Docker (the config file's backends), shared by a module's
    tests: starting one costs seconds."""
    server = Dashboard(str(workdir), home=str(workdir.parent / "home")).start()
    yield server
    server.stop()


@pytest.fixture
def shared_home(workdir, monkeypatch):
    """The test launches into the state directory the module's dashboard reads."""
    home = workdir.parent / "home"
    monkeypatch.setenv("SYMPHONY_HOME", str(home))
    return home


def delete_leftovers(home):
    """Stop whatever a failing test left running in ``home`` (local and tmux rows)."""
    if not (home / "state.db").exists():
        return
    from symphony.host.processes import stop_run
    from symphony.state import StateStore
    store = StateStore(str(home))
    for row in store.db.execute("SELECT backend, name, run_id FROM experiments").fetchall():
        stop_run(row["run_id"], grace=1.0)
        store.delete_experiment(row["backend"], row["name"])
    store.close()


@pytest.fixture(scope="module")
def browser_binaries():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        require_engine("chromium", "headless Chromium is not installed (apt-get install chromium chromium-driver)")
    return chromium, driver


@pytest.fixture(scope="module")
def browser(browser_binaries):
    """Headless Chromium, one per test module (starting it costs about a second)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = browser_binaries[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,860", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=browser_binaries[1]), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser):
    """The browser, on a blank page with no cookies left by an earlier test."""
    browser.get("about:blank")
    browser.delete_all_cookies()
    while len(browser.window_handles) > 1:
        browser.switch_to.window(browser.window_handles[-1])
        browser.close()
    browser.switch_to.window(browser.window_handles[0])
    return browser
