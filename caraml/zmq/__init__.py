"""ZeroMQ messaging for the processes of one experiment.

Everything public lives in :mod:`caraml.zmq.communicator` (sockets),
:mod:`caraml.zmq.proxy` (many-to-many forwarding),
:mod:`caraml.zmq.inmem_data_fetcher` (parallel fetching through memory-mapped
files) and :mod:`caraml.zmq.errors`, and is re-exported here, with every name
caraml 0.x exported. :mod:`caraml.zmq.serializers` and
:mod:`caraml.zmq.pickle_codec` describe the wire formats,
:mod:`caraml.zmq.addressing` how addresses and service names are resolved.
See the :mod:`caraml.zmq.communicator` docstring for a tour.
"""

from caraml.zmq.communicator import (
    ZmqClient,
    ZmqPub,
    ZmqPull,
    ZmqPuller,
    ZmqPush,
    ZmqPusher,
    ZmqReceiver,
    ZmqSender,
    ZmqServer,
    ZmqSocket,
    ZmqSub,
)
from caraml.zmq.errors import (
    CaramlError,
    ZmqPairingError,
    ZmqProxyStartError,
    ZmqRemoteError,
    ZmqSerializerUnavailable,
    ZmqServiceNotFound,
    ZmqTimeoutError,
)
from caraml.zmq.inmem_data_fetcher import DataFetcher
from caraml.zmq.proxy import ZmqProxy, ZmqProxyProcess, ZmqProxyThread

__all__ = [
    "CaramlError",
    "DataFetcher",
    "ZmqClient",
    "ZmqPairingError",
    "ZmqProxy",
    "ZmqProxyProcess",
    "ZmqProxyStartError",
    "ZmqProxyThread",
    "ZmqPub",
    "ZmqPull",
    "ZmqPuller",
    "ZmqPush",
    "ZmqPusher",
    "ZmqReceiver",
    "ZmqRemoteError",
    "ZmqSender",
    "ZmqSerializerUnavailable",
    "ZmqServer",
    "ZmqServiceNotFound",
    "ZmqSocket",
    "ZmqSub",
    "ZmqTimeoutError",
]
