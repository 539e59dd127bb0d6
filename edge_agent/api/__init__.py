"""Models as a service: the Open Inference Protocol (KServe v2) over HTTP/REST and gRPC."""

from edge_agent.api.server import ApiServer

__all__ = ["ApiServer"]
