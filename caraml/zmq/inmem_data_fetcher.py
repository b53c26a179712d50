"""Fetch many responses from a remote server in parallel, handing them over through memory-mapped files.

:class:`DataFetcher` (caraml 0.x's API) is a thread that forks ``n_workers``
processes with ``threads_per_worker`` threads each. Every worker thread takes
the next request from the fetcher, sends it to the remote
:class:`~caraml.zmq.ZmqServer`, optionally runs ``worker_handler`` on the
response (compute-heavy post-processing, off the main process's GIL), writes
the result with :func:`caraml.inmemory.inmem_serialize` and sends only the
file's name back. The fetcher then calls ``handler(request, response)`` in
its own thread, ``response`` being a
:class:`~caraml.inmemory.SharedMemoryObject` whose ``.data`` is the result.

The fetcher and its workers talk over a request/reply socket on 127.0.0.1
(``worker_comm_port``, 0 for a free one): a worker asks for a task only when
it has finished the last, so the fetcher never queues more work than the
workers can take. Worker processes are forked where the platform can (so
handlers may be closures), else spawned.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from caraml.inmemory import inmem_deserialize, inmem_serialize
from caraml.zmq.communicator import ZmqClient, ZmqServer
from caraml.zmq.serializers import SerializerSpec, get_decoder, get_encoder

_TERMINATE = "_CARAML_TERMINATE_FETCHER"
_MASTER_HOST = "127.0.0.1"


def _process_context():
    """fork where available: caraml 0.x forked, so handlers defined anywhere (closures, lambdas) keep working."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


class DataFetcherWorker(_process_context().Process):
    """One worker process of a :class:`DataFetcher`: ``num_threads`` threads fetching until told to stop."""

    def __init__(
        self,
        master_port: int,
        num_threads: int = 1,
        remote_host: str | None = None,
        remote_port: int | None = None,
        handler: Callable[[Any], Any] | None = None,
        serializer: SerializerSpec = None,
        deserializer: SerializerSpec = None,
    ):
        super().__init__(daemon=True)
        self.master_port = master_port
        self.remote_host = remote_host
        self.remote_port = remote_port
        self.handler = handler
        self.serializer = serializer
        self.deserializer = deserializer
        self.num_threads = num_threads

    def run(self) -> None:
        threads = [threading.Thread(target=self.run_thread) for _ in range(self.num_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def run_thread(self) -> None:
        """Fetch tasks until the fetcher says stop; sockets are made here, after the fork, one set per thread."""
        remote = ZmqClient(
            host=self.remote_host, port=self.remote_port, serializer=self.serializer, deserializer=self.deserializer
        )
        master = ZmqClient(host=_MASTER_HOST, port=self.master_port, serializer="pickle")
        with remote, master:
            while True:
                task = master.request({"type": "new-task"})
                if task == _TERMINATE:
                    return
                try:
                    response = remote.request(task)
                    if self.handler is not None:
                        response = self.handler(response)
                    name = inmem_serialize(response)
                except Exception as error:
                    master.request({"type": "error", "request": task, "error": traceback.format_exc()})
                    if isinstance(error, KeyboardInterrupt):
                        return
                    continue
                master.request({"type": "response", "request": task, "data": name})


class DataFetcher(threading.Thread):
    """Sends ``requests`` to ``remote_host:remote_port`` from worker processes; ``handler(request, response)`` here.

    Start it with ``start()`` and wait with ``join()``: the thread ends once
    every request has been answered and handled, and the workers have exited.
    A request whose fetch fails (the remote raised, ``worker_handler``
    raised) is reported on stderr with the worker's traceback and skipped;
    ``errors`` lists ``(request, traceback)`` for each.
    """

    def __init__(
        self,
        handler: Callable[[Any, Any], Any],
        remote_host: str,
        remote_port: int,
        requests: Iterable[Any],
        worker_comm_port: int = 0,
        remote_serializer: SerializerSpec = None,
        remote_deserialzer: SerializerSpec = None,
        n_workers: int = 2,
        threads_per_worker: int = 2,
        worker_handler: Callable[[Any], Any] | None = None,
        *,
        remote_deserializer: SerializerSpec = None,
    ):
        """
        Args:
            handler: ``handler(request, response)``, called in this thread for each response.
            remote_host, remote_port: the server the workers send requests to.
            requests: an iterable of requests, consumed lazily.
            worker_comm_port: local port for the workers to reach the fetcher; 0 picks a free one.
            remote_serializer, remote_deserialzer (or ``remote_deserializer``): the remote
                server's formats; the default is caraml's (pickle). caraml 0.x defaulted to
                'pyarrow', which is gone: give the server the default too.
            n_workers: worker processes.
            threads_per_worker: fetching threads in each worker.
            worker_handler: applied to each response in the worker, before it is written.
        """
        super().__init__(daemon=True)
        deserializer = remote_deserializer if remote_deserializer is not None else remote_deserialzer
        get_encoder(remote_serializer)  # refuse an unknown or removed format here, in the caller's thread
        get_decoder(remote_serializer, deserializer)
        if n_workers < 1 or threads_per_worker < 1:
            raise ValueError("DataFetcher needs n_workers >= 1 and threads_per_worker >= 1")
        self.handler = handler
        self.remote_host = remote_host
        self.remote_port = remote_port
        self.remote_serializer = remote_serializer
        self.remote_deserialzer = deserializer
        self.requests_iter = iter(requests)
        self.worker_comm_port = worker_comm_port
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.worker_handler = worker_handler
        self.errors: list[tuple[Any, str]] = []
        self.workers: list[DataFetcherWorker] = []

    def run(self) -> None:
        with ZmqServer(host=_MASTER_HOST, port=self.worker_comm_port, serializer="pickle") as server:
            self.server = server
            for _ in range(self.n_workers):
                worker = DataFetcherWorker(
                    master_port=server.port,
                    num_threads=self.threads_per_worker,
                    remote_host=self.remote_host,
                    remote_port=self.remote_port,
                    handler=self.worker_handler,
                    serializer=self.remote_serializer,
                    deserializer=self.remote_deserialzer,
                )
                worker.start()
                self.workers.append(worker)
            active_threads = self.n_workers * self.threads_per_worker
            while active_threads:
                message = server.recv()
                kind = message["type"]
                if kind == "new-task":
                    try:
                        server.send(next(self.requests_iter))
                    except StopIteration:
                        server.send(_TERMINATE)
                        active_threads -= 1
                    continue
                server.send("ack")
                if kind == "response":
                    self.handler(message["request"], inmem_deserialize(message["data"]))
                else:
                    self.errors.append((message["request"], message["error"]))
                    print(f"caraml DataFetcher: request {message['request']!r} failed:\n{message['error']}", file=sys.stderr)
            for worker in self.workers:
                worker.join()
