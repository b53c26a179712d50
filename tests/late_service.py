"""The readiness scenario the engines that cannot run the host tests' servers share: a server
whose port listens only after a delay, and a client that connects once (so whether its first
attempt succeeded shows whether the wait held it long enough). Both are ``python -c`` texts
for processes started by a backend; they read the service ``late``'s variables."""


def late_server(delay=5):
    """Listens on ``late`` after ``delay`` seconds and answers every connection ``hello``."""
    return f"""
import os, socket, time
time.sleep({delay})
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((os.environ['SYMPH_BIND_HOST'], int(os.environ['SYMPH_LATE_PORT'])))
s.listen(64)
print('listening', flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b'hello\\n')
    c.close()
"""


#: connects to ``late`` once and prints ``first attempt: hello`` (or why it failed), then stays
FIRST_TRY_CLIENT = """
import os, socket, time
try:
    c = socket.create_connection((os.environ['SYMPH_LATE_HOST'], int(os.environ['SYMPH_LATE_PORT'])), timeout=10)
    print('first attempt:', c.makefile().readline().strip(), flush=True)
except OSError as exc:
    print('first attempt failed:', exc, flush=True)
while True:
    time.sleep(3600)
"""
