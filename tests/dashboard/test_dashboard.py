"""The dashboard in a real browser (headless Chromium) over real backends.

Each test starts ``python -m symphony.dashboard`` in a directory whose ``.symphony.yml``
names local, tmux and Docker, launches real experiments, and looks at what a person
would see. Screenshots of the three pages are saved in the test's temporary directory.
"""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import psutil
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashhelpers import TEST_IMAGE, Dashboard, docker_ready
from engines import require_engine
from symphony import Cluster

pytestmark = pytest.mark.slow

BACKENDS = ["local", "tmux", pytest.param("docker", marks=pytest.mark.docker)]


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def launch(tmux_server, shared_home):
    """``launch(backend, build)``: launch ``build(exp, image)`` on a real backend; deleted at the end."""
    launched = []

    def run(backend, build, name=None):
        if backend == "local":
            cluster = Cluster.new("local", grace=1.0, restart_backoff=2.5)
        elif backend == "tmux":
            cluster = Cluster.new("tmux", server_name=tmux_server, grace=1.0, restart_backoff=2.5)
        else:
            reason = docker_ready()
            if reason:
                require_engine("docker", reason)
            cluster = Cluster.new("docker", internal_network=True, stop_timeout=1)
        exp = cluster.new_experiment(name or unique(f"dash-{backend}"))
        build(exp, TEST_IMAGE if backend == "docker" else None)
        cluster.launch(exp)
        launched.append((cluster, exp.name))
        return cluster, exp.name

    yield run
    for cluster, name in launched:
        if name in cluster.list_experiments():
            cluster.delete(name)


def request(dashboard, path, token=True, method="GET", body=None, headers=None):
    """``(status, text)`` of one request to the dashboard."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"token {dashboard.token if token is True else token}"
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(dashboard.base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def cli_json(workdir, backend, experiment):
    """What ``symphony p EXPERIMENT -o json`` prints."""
    result = subprocess.run([sys.executable, "-m", "symphony.cli", "-b", backend, "p", experiment, "-o", "json"],
                            cwd=workdir, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def without_ages(document):
    """A ``p -o json`` document less ``state_text``, whose age moves with the clock."""
    return {**document, "processes": [{k: v for k, v in p.items() if k != "state_text"}
                                      for p in document["processes"]]}


def wait(driver, condition, timeout=30):
    """``condition(driver)``'s first truthy value; an element redrawn by a live update meanwhile
    is looked up again."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(
        StaleElementReferenceException, NoSuchElementException)).until(lambda d: condition(d))


def text_of(driver, selector):
    """The text of what ``selector`` finds, read in one step (rows are redrawn as they change)."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                                 selector)


def click_to(driver, selector, page, timeout=60):
    """Click the link ``selector`` finds until the browser is on ``page``: a live update may redraw
    the link between finding and clicking it, and then the click is lost. A click that started a
    navigation (the old page saw ``beforeunload``) is not repeated, however slowly the server
    answers: clicking again would cancel the navigation under way."""
    on = lambda d: d.execute_script("return document.body && document.body.dataset.page") == page
    mark = ("if (!window.__clickWatch) { window.__clickWatch = true;"
            " window.addEventListener('beforeunload', () => { window.__leaving = true; }); }")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            driver.execute_script(mark)
            driver.find_element(By.CSS_SELECTOR, selector).click()
            WebDriverWait(driver, 3).until(lambda d: on(d) or d.execute_script("return window.__leaving === true"))
            return WebDriverWait(driver, max(1.0, deadline - time.monotonic())).until(on)
        except (StaleElementReferenceException, NoSuchElementException, TimeoutException):
            continue
    raise AssertionError(f"clicking {selector} never led to the {page} page; the browser is at {driver.current_url} "
                         f"showing: {driver.execute_script('return document.body && document.body.innerText')!r:.600}")


def row_state(driver, key):
    return driver.execute_script(
        "const row = document.getElementById('p:' + arguments[0]); return row ? row.dataset.state : null;", key)


def sleeper(exp, image, name="sleeper", seconds=300):
    exp.new_process(name, cmds=[f"sleep {seconds}"], **({"container_image": image} if image else {}))


# ------------------------------------------------------------------------------ access

def test_token_is_required_and_bad_requests_are_refused(dashboard, launch, page, workdir):
    cluster, name = launch("local", sleeper)
    assert request(dashboard, "/", token=False)[0] == 403
    assert request(dashboard, "/api/experiments", token=False)[0] == 403
    assert request(dashboard, f"/api/experiments/local/{name}", token="x" * 32)[0] == 403
    status, text = request(dashboard, f"/api/experiments/local/{name}", token=False,
                           headers={"Cookie": f"symphony-dashboard-{dashboard.port}=wrong"})
    assert status == 403 and "refused" in text
    assert request(dashboard, "/")[0] == 200
    # paths outside the API and the pages
    for path in ("/etc/passwd", "/static/../server.py", "/static/index.py", "/api/nothing",
                 "/e/local/../../etc", "/api/experiments/nope/x", "/api/experiments/local/UPPER"):
        assert request(dashboard, path)[0] == 404, path
    # a delete must name the experiment, in JSON
    assert request(dashboard, f"/api/experiments/local/{name}/delete", method="POST", body={})[0] == 400
    assert request(dashboard, f"/api/experiments/local/{name}/delete", method="POST",
                   body={"confirm": "other"})[0] == 400
    assert request(dashboard, f"/api/experiments/local/{name}/delete", method="POST",
                   body=b"confirm=" + name.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
                   )[0] == 415
    assert request(dashboard, f"/api/experiments/local/{name}/delete", token=False, method="POST",
                   body={"confirm": name})[0] == 403
    assert request(dashboard, f"/api/logs/local/{name}?process=sleeper&since=5x")[0] == 400
    assert name in cluster.list_experiments()
    assert cluster.describe_experiment(name)[0].state == "running"

    # the browser without the token, with a wrong one, then with the printed URL
    page.get(dashboard.base + "/")
    assert "refused" in page.find_element(By.TAG_NAME, "body").text
    page.get(dashboard.base + "/?token=" + "y" * 32)
    assert "refused" in page.find_element(By.TAG_NAME, "body").text
    page.get(dashboard.url)
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, f"tr.experiment[data-experiment='{name}']"))
    assert "token=" not in page.current_url  # kept in a cookie, out of the address bar and history


def test_binds_this_machine_only_unless_told(workdir, shared_home):
    server = Dashboard(str(workdir), str(shared_home)).start()
    try:
        listening = {conn.laddr.ip for conn in psutil.Process(server.proc.pid).net_connections("tcp")
                     if conn.status == psutil.CONN_LISTEN}
        assert listening == {"127.0.0.1"}
    finally:
        server.stop()


# ------------------------------------------------------------------------------ the pages

@pytest.mark.parametrize("backend", BACKENDS)
def test_experiment_pages_show_what_the_command_shows(dashboard, launch, page, workdir, backend, tmp_path):
    def build(exp, image):
        extra = {"container_image": image} if image else {}
        workers = exp.new_process_group("workers")
        for index in range(2):
            workers.new_process(f"worker-{index}", cmds=["sleep 300"], **extra)
        crash = exp.new_process("crash", cmds=["echo about to fail", "exit 7"], **extra)
        crash.restart_policy("Never")
        exp.new_process("learner", cmds=["sleep 300"], **extra)
    cluster, name = launch(backend, build)
    wait(page, lambda _: any(s.key == "crash" and s.state == "exited" for s in cluster.describe_experiment(name)),
         timeout=30)

    # the experiments page: this one, on its backend, with its counts
    page.get(dashboard.url)
    selector = f"tr.experiment[data-experiment='{name}']"
    cells = lambda d: [cell.text for row in d.find_elements(By.CSS_SELECTOR, selector)
                       for cell in row.find_elements(By.TAG_NAME, "td")]
    wait(page, lambda d: cells(d)[:6] == [backend, name, "4", "3", "0", "1"])
    if backend == "local":
        page.save_screenshot(str(tmp_path / "experiments.png"))

    # one experiment: processes under their group, as `symphony p -o json` has them
    click_to(page, f"{selector} a", "experiment")
    wait(page, lambda d: row_state(d, "workers/worker-1") == "running")
    wait(page, lambda d: row_state(d, "crash") == "exited")
    groups = [el.text for el in page.find_elements(By.CSS_SELECTOR, "tr.group")]
    assert groups == ["workers"]
    keys = [el.get_attribute("data-key") for el in page.find_elements(By.CSS_SELECTOR, "tr.process")]
    assert sorted(keys) == ["crash", "learner", "workers/worker-0", "workers/worker-1"]
    assert text_of(page, "[id='p:crash'] .state") == "exited (7)"
    if backend != "docker":  # host processes: CPU% and memory
        assert wait(page, lambda d: text_of(d, "[id='p:learner'] .mem")).endswith("iB")
    if backend == "local":
        page.save_screenshot(str(tmp_path / "experiment.png"))

    # the page's API is `symphony p -o json`
    status, text = request(dashboard, f"/api/experiments/{backend}/{name}")
    assert status == 200
    assert without_ages(json.loads(text)) == without_ages(cli_json(str(workdir), backend, name))


@pytest.mark.parametrize("backend", ["local", "tmux"])
def test_a_restart_shows_without_reloading_within_a_second(dashboard, launch, page, backend):
    def build(exp, image):
        flaky = exp.new_process("flaky", cmds=["sleep 2", "exit 3"])
        flaky.restart_policy("OnFailure")
    cluster, name = launch(backend, build)
    page.get(dashboard.url.replace("/?", f"/e/{backend}/{name}?"))
    wait(page, lambda d: row_state(d, "flaky") == "running")
    # the page records when it first shows the restart; the marker proves it was never reloaded
    page.execute_script("""
        window.notReloaded = true;
        new MutationObserver(() => {
          const row = document.getElementById('p:flaky');
          if (row && row.dataset.state === 'restarting' && !window.restartSeen) {
            window.restartSeen = Date.now() / 1000;
            window.restartText = row.querySelector('.state').textContent;
          }
        }).observe(document.querySelector('#processes tbody'), {subtree: true, childList: true, attributes: true});
    """)
    seen = wait(page, lambda d: d.execute_script("return window.restartSeen"), timeout=15)
    ended = next(s for s in cluster.describe_experiment(name) if s.key == "flaky").finished
    assert page.execute_script("return window.notReloaded") is True
    assert 0 <= seen - ended <= 1.0, f"the restart showed {seen - ended:.2f}s after it happened"
    assert page.execute_script("return window.restartText") == "restarting (exit 3)"
    wait(page, lambda d: text_of(d, "[id='p:flaky'] .restarts") not in (None, "0"))  # counted, still no reload
    assert page.execute_script("return window.notReloaded") is True


def test_log_follows_as_lines_arrive_in_colour(dashboard, launch, page, workdir, tmp_path):
    def build(exp, image):
        exp.new_process("talker", cmds=[r"for i in $(seq 1 400); do printf '\033[31mline %d\033[0m plain\n' $i; "
                                        r"sleep 0.25; done"])
    cluster, name = launch("local", build)
    wait(page, lambda _: sum(1 for _ in cluster.get_log(name, "talker")) >= 8)
    page.get(dashboard.url.replace("/?", f"/e/local/{name}/logs?process=talker&tail=5&"))
    lines = lambda d: [el.text for el in d.find_elements(By.CSS_SELECTOR, "#log > div")]
    first = wait(page, lambda d: lines(d))
    number = lambda text: int(text.split()[1])
    assert len(first) <= 6 and number(first[0]) >= 4  # --tail 5 (plus what arrived meanwhile)
    page.execute_script("window.notReloaded = true")
    count = len(first)
    later = wait(page, lambda d: len(lines(d)) >= count + 3 and lines(d), timeout=10)
    assert [number(text) for text in later] == list(range(number(later[0]), number(later[0]) + len(later)))
    assert page.execute_script("return window.notReloaded") is True
    red = page.find_elements(By.CSS_SELECTOR, "#log span.ansi-fg-1")
    assert red and red[-1].text.startswith("line ") and "\x1b" not in page.find_element(By.ID, "log").text
    assert page.find_element(By.ID, "log-state").text == "following…"
    page.save_screenshot(str(tmp_path / "logs.png"))


def serves(url):
    """Whether ``url`` answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def test_visit_link_opens_the_exposed_service(dashboard, launch, page, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><body><h1>hello from the web service</h1></body></html>")

    def build(exp, image):
        web = exp.new_process("web", command=sys.executable,
                              args=["-c", "import os, http.server, functools; http.server.ThreadingHTTPServer("
                                    "('127.0.0.1', int(os.environ['SYMPH_WEB_PORT'])), functools.partial("
                                    f"http.server.SimpleHTTPRequestHandler, directory={str(site)!r})).serve_forever()"])
        web.exposes("web")
        sleeper(exp, image)
    cluster, name = launch("local", build)
    wait(page, lambda _: serves(cluster.external_url(name, "web")))
    page.get(dashboard.url.replace("/?", f"/e/local/{name}?"))
    link = wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "#services a.visit"))[0]
    assert link.text.startswith("web")
    link.click()
    wait(page, lambda d: len(d.window_handles) == 2)
    page.switch_to.window(page.window_handles[1])
    wait(page, lambda d: "hello from the web service" in d.find_element(By.TAG_NAME, "body").text, timeout=20)
    assert page.current_url.rstrip("/") == cluster.external_url(name, "web")


def test_delete_asks_for_the_name_first(dashboard, launch, page):
    cluster, name = launch("local", sleeper)
    pid = cluster.describe_experiment(name)[0].pid
    page.get(dashboard.url.replace("/?", f"/e/local/{name}?"))
    wait(page, lambda d: row_state(d, "sleeper") == "running")
    page.find_element(By.ID, "delete").click()
    dialog = page.find_element(By.ID, "confirm-delete")
    assert dialog.is_displayed() and name in dialog.text
    ok = page.find_element(By.ID, "confirm-ok")
    assert not ok.is_enabled()
    page.find_element(By.ID, "confirm-name").send_keys(name[:-1])
    assert not ok.is_enabled()
    page.find_element(By.ID, "confirm-cancel").click()
    time.sleep(0.5)
    assert name in cluster.list_experiments()

    page.find_element(By.ID, "delete").click()
    page.find_element(By.ID, "confirm-name").send_keys(name)
    assert ok.is_enabled()
    ok.click()
    wait(page, lambda d: d.execute_script("return document.body.dataset.page") == "experiments", timeout=20)
    assert name not in cluster.list_experiments()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    wait(page, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-backend='local']") and
         not d.find_elements(By.CSS_SELECTOR, f"tr.experiment[data-experiment='{name}']"))


def test_page_reconnects_after_the_server_restarts(workdir, shared_home, launch, page, tmp_path):
    flag = tmp_path / "end-now"

    def build(exp, image):  # "short" ends when told, while the server is down
        exp.new_process("short", cmds=[f"while [ ! -e {flag} ]; do sleep 0.1; done", "exit 4"])
        sleeper(exp, image)
    server = Dashboard(str(workdir), str(shared_home)).start()
    try:
        cluster, name = launch("local", build)
        page.get(server.url.replace("/?", f"/e/local/{name}?"))
        wait(page, lambda d: row_state(d, "short") == "running")
        page.execute_script("window.notReloaded = true")
        server.stop()
        wait(page, lambda d: d.find_element(By.ID, "live").text == "reconnecting…")
        flag.touch()
        wait(page, lambda _: any(s.key == "short" and s.state == "exited" for s in cluster.describe_experiment(name)))
        assert row_state(page, "short") == "running"  # nobody told the page yet
        server = Dashboard(str(workdir), str(shared_home), port=server.port).start()  # same port; the stored token
        wait(page, lambda d: row_state(d, "short") == "exited", timeout=15)
        assert page.find_element(By.ID, "live").text == "live"
        assert page.execute_script("return window.notReloaded") is True
    finally:
        server.stop()
