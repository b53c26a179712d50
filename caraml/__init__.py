"""caraml: fast, small messaging helpers for the processes of one experiment.

The messaging lives in :mod:`caraml.zmq` (client/server, push/pull, pub/sub and
proxies over ZeroMQ); see ``caraml/README.md`` for a guide and benchmark numbers.
"""
