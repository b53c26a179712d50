"""ZeroMQ messaging for the processes of one experiment.

Everything public lives in :mod:`caraml.zmq.communicator` (sockets),
:mod:`caraml.zmq.proxy` (many-to-many forwarding) and :mod:`caraml.zmq.errors`,
and is re-exported here. :mod:`caraml.zmq.serializers` and
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
    ZmqServer,
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
from caraml.zmq.proxy import ZmqProxy

__all__ = [
    "CaramlError",
    "ZmqClient",
    "ZmqPairingError",
    "ZmqProxy",
    "ZmqProxyStartError",
    "ZmqPub",
    "ZmqPull",
    "ZmqPuller",
    "ZmqPush",
    "ZmqPusher",
    "ZmqRemoteError",
    "ZmqSerializerUnavailable",
    "ZmqServer",
    "ZmqServiceNotFound",
    "ZmqSub",
    "ZmqTimeoutError",
]
