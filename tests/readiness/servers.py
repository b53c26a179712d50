"""Real servers for the probes: a TCP listener that starts late, an HTTP server with a chosen status."""

import http.server
import socket
import threading
import time


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LateListener:
    """Listens on ``port`` after ``delay`` seconds, accepting and closing connections, until stopped."""

    def __init__(self, port, delay=0.0):
        self.port, self.delay = port, delay
        self.listening_at = None
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        if self._stop.wait(self.delay):
            return
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(64)
            sock.settimeout(0.05)
            self.listening_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    conn, _ = sock.accept()
                except socket.timeout:
                    continue
                self.accepted += 1
                conn.close()

    def stop(self):
        self._stop.set()
        self._thread.join(5)


class StatusServer:
    """An HTTP server on a free port answering every GET with ``status`` (changeable), recording paths."""

    def __init__(self, status=200):
        self.status = status
        self.paths = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.paths.append(self.path)
                self.send_response(owner.status)
                if 300 <= owner.status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
