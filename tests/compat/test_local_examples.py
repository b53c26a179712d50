"""The original README's and examples' code for the subprocess backend and ``SubprocManager``, run as
their users ran it (``python run_subproc.py``); the programs they start are written here with
plain sockets (the caraml versions are caraml's tests)."""

import pytest

from conftest import run_script

pytestmark = pytest.mark.slow

SERVER = """import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(os.environ['SYMPH_EXAMPLE_PORT'])))
s.listen()
print('Server initialized', flush=True)
c, _ = s.accept()
msg = c.recv(100).decode()
print('handling', msg, flush=True)
c.sendall((msg + 'a').encode())
"""
CLIENT = """import os, socket, time
for _ in range(200):
    try:
        c = socket.create_connection((os.environ['SYMPH_EXAMPLE_HOST'], int(os.environ['SYMPH_EXAMPLE_PORT'])))
        break
    except OSError:
        time.sleep(0.05)
c.sendall(b'hello')
print('client got', c.recv(100).decode(), flush=True)
"""
#: examples/zmq/run_subproc.py, as written (its programs are the two above)
RUN_SUBPROC = """import symphony
from symphony.engine import Cluster


cluster = Cluster.new('subproc',
                      stdout_mode='print', stderr_mode='print', log_dir=None)
exp = cluster.new_experiment('hello-world')
server = exp.new_process('server', cmd='python simple_server.py')
client = exp.new_process('client', cmd='python simple_client.py')
server.binds('example')
client.connects('example')

print('Server and client are running in subprocess mode')
cluster.launch(exp, dry_run=False)
"""


def test_run_subproc_prints_the_output_and_returns_when_both_ended(write):
    write("simple_server.py", SERVER)
    write("simple_client.py", CLIENT)
    script = write("run_subproc.py", RUN_SUBPROC)
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Server initialized" in out and "handling hello" in out and "client got helloa" in out
    assert 'PROCESS "server" DONE' in out and 'PROCESS "client" DONE' in out
    from symphony import Cluster
    assert Cluster.new("local").list_experiments() == []  # gone when launch returned: the script can run again


def test_the_first_failure_stops_the_others_and_file_mode_writes_the_output(write, tmp_path):
    script = write("run.py", """from symphony import Cluster
cluster = Cluster.new('subproc', stdout_mode='file', stderr_mode='stdout', log_dir='mylogs', grace=1)
exp = cluster.new_experiment('fails')
exp.new_process('sleeper', cmd='echo sleeping; sleep 60')
group = exp.new_process_group('g')
group.new_process('bad', cmd='echo going; echo broken >&2; exit 3')
cluster.launch(exp)
print('ended', cluster.list_experiments())
""")
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    assert 'PROCESS "g/bad" TERMINATED WITH ERROR CODE 3' in result.stdout
    assert "KILLING ALL REMAINING PROCESSES" in result.stdout and "ended []" in result.stdout
    assert (tmp_path / "mylogs" / "g:bad.out").read_text() == "going\nbroken\n"
    assert (tmp_path / "mylogs" / "sleeper.out").read_text() == "sleeping\n"


def test_modes_that_need_stdout_and_stderr_apart_are_refused_in_one_line():
    from symphony import Cluster
    from symphony.errors import BackendSettingError
    with pytest.raises(BackendSettingError, match=r"^Cluster.new\('subproc', stdout_mode='print', "
                                                  r"stderr_mode='file'\) needs stdout and stderr apart.*"
                                                  r"use stderr_mode='print'"):
        Cluster.new("subproc", stdout_mode="print", stderr_mode="file", log_dir="x")
    with pytest.raises(BackendSettingError, match="give log_dir="):
        Cluster.new("subproc", stdout_mode="file", stderr_mode="stdout")


#: examples/subproc/dummy.py's behaviour, written anew: counts, prints to stdout and stderr, may throw
DUMMY = """import os, sys, time
env = os.environ['DUMMY']
n = int(sys.argv[1])
for i in range(n):
    time.sleep(0.05)
    # one write per line: three children share this pipe, and under PYTHONUNBUFFERED=1 print()
    # writes every word on its own, so their words would interleave
    sys.stdout.write(' '.join([str(i), 'env=', env, 'args=', *sys.argv[2:]]) + '\\n')
    sys.stdout.flush()
    sys.stderr.write('err %d\\n' % i)
    sys.stderr.flush()
    if 'throw' in sys.argv and i >= n // 2:
        raise SystemExit(1)
sys.stdout.write(' '.join(['DONE', *sys.argv[2:]]) + '\\n')
"""
#: examples/subproc/subproc_manager.py, as written (its time.sleep/kill lines were comments there too)
SUBPROC_MANAGER = """import time
import os
from pprint import pprint
from symphony.subproc import SubprocManager


manager = SubprocManager(
    stdout_mode='print',
    stderr_mode='print',
    log_dir='mylogs'
)


p1 = manager.launch('dummy1', 'python dummy.py 10 d1', env={'DUMMY': 'first'})
p2 = manager.launch('dummy2', 'python dummy.py 8 d2', env={'DUMMY': 'second'})
# put "throw" in command line arg to simulate an exception
p3 = manager.launch('dummy3', 'python dummy.py 6 hello', env={'DUMMY': 'third'})

print(p1.pid, p2.pid, p3.pid)

print('Main PID', os.getpid())
manager.join(kill_on_error=True)
pprint(manager.poll_all())
"""


def test_subproc_manager_example(write):
    write("dummy.py", DUMMY)
    script = write("subproc_manager.py", SUBPROC_MANAGER)
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    for line in ("9 env= first args= d1", "7 env= second args= d2", "5 env= third args= hello",
                 'PROCESS "dummy1" DONE', "{'dummy1': 0, 'dummy2': 0, 'dummy3': 0}"):
        assert line in result.stdout
    assert "err 9" in result.stderr


def test_subproc_manager_stops_the_rest_when_one_throws(write, tmp_path):
    write("dummy.py", DUMMY)
    script = write("m.py", """from symphony import SubprocManager
manager = SubprocManager(stdout_mode='file', stderr_mode='file', log_dir='mylogs')
manager.launch('long', 'python dummy.py 400 x', env={'DUMMY': 'a'})
manager.launch('thrower', 'python dummy.py 4 throw', env={'DUMMY': 'b'})
print(manager.join(kill_on_error=True, poll_interval=0.05))
""")
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    assert 'PROCESS "thrower" TERMINATED WITH ERROR CODE 1' in result.stdout
    assert "{'long': -15, 'thrower': 1}" in result.stdout
    assert (tmp_path / "mylogs" / "thrower.err").read_text().startswith("err 0\n")
    assert "DONE" not in (tmp_path / "mylogs" / "long.out").read_text()
