"""The gRPC front end: GRPCInferenceService from the protocol's own .proto, over the same inference service."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np

from edge_agent.api import grpc_predict_v2_pb2 as pb
from edge_agent.api import grpc_predict_v2_pb2_grpc as pb_grpc
from edge_agent.api.guard import ApiMetrics, Guard
from edge_agent.api.inference import InferenceService
from edge_agent.api.tensors import (
    BYTES,
    ApiError,
    InferRequest,
    Status,
    Tensor,
    array_from_list,
    array_from_raw,
    raw_bytes,
    unpack_bytes,
)
from edge_agent.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")
# which repeated field of InferTensorContents holds each datatype
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    BYTES: "bytes_contents",
}


def _parameters(params: Any) -> dict[str, Any]:
    return {
        key: getattr(value, value.WhichOneof("parameter_choice") or "string_param") for key, value in params.items()
    }


def _tensor(spec: Any, raw: bytes | None) -> Tensor:
    shape = [int(d) for d in spec.shape]
    name, datatype = spec.name, spec.datatype
    if raw is not None:
        data: np.ndarray | list[bytes] = (
            unpack_bytes(raw, name) if datatype == BYTES else array_from_raw(raw, datatype, shape, name)
        )
    elif datatype in _CONTENTS:
        values = getattr(spec.contents, _CONTENTS[datatype])
        data = list(values) if datatype == BYTES else array_from_list(list(values), datatype, shape, name)
    else:
        raise ApiError(Status.INVALID, f"input {name!r}: datatype {datatype!r} needs raw_input_contents")
    return Tensor(name, datatype, shape, data, _parameters(spec.parameters))


def to_request(message: Any) -> InferRequest:
    """The protocol-neutral request of a ModelInferRequest."""
    raw = list(message.raw_input_contents)
    if raw and len(raw) != len(message.inputs):
        raise ApiError(Status.INVALID, f"{len(raw)} raw_input_contents for {len(message.inputs)} inputs")
    inputs = [_tensor(spec, raw[i] if raw else None) for i, spec in enumerate(message.inputs)]
    outputs = [out.name for out in message.outputs] or None
    return InferRequest(
        message.model_name, message.model_version, inputs, outputs, message.id, _parameters(message.parameters)
    )


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Each RPC checks the token and the client's slots, answers through the service and is counted."""

    def __init__(self, service: InferenceService, guard: Guard, metrics: ApiMetrics) -> None:
        self._service = service
        self._guard = guard
        self._metrics = metrics

    def _call(self, context: grpc.ServicerContext, model: str, answer: Callable[[], T], public: bool = False) -> T:
        started = time.perf_counter()
        status, reason = Status.OK, ""
        try:
            if not public:
                metadata = dict(context.invocation_metadata())
                self._guard.check_token(metadata.get("authorization"))
            with self._guard.client_slot(context.peer().rsplit(":", 1)[0]):
                return answer()
        except ApiError as exc:
            status, reason = exc.status, str(exc)
        except Exception as exc:  # a bug answers INTERNAL with its reason and the server keeps serving
            log.exception("gRPC call failed")
            status, reason = Status.INTERNAL, f"internal error: {exc}"
        finally:
            self._metrics.count(model, self._service.catalog.names(), "grpc", status.grpc, started)
        context.abort(getattr(grpc.StatusCode, status.grpc), reason)
        raise AssertionError("context.abort returns by raising")

    def ServerLive(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._call(context, "", lambda: pb.ServerLiveResponse(live=True), public=True)

    def ServerReady(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._call(context, "", lambda: pb.ServerReadyResponse(ready=self._service.ready()), public=True)

    def ModelReady(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._call(
            context,
            request.name,
            lambda: pb.ModelReadyResponse(ready=self._service.model_ready(request.name, request.version)),
        )

    def ServerMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        def answer() -> Any:
            meta = self._service.server_metadata()
            return pb.ServerMetadataResponse(name=meta["name"], version=meta["version"], extensions=meta["extensions"])

        return self._call(context, "", answer)

    def ModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        def answer() -> Any:
            meta = self._service.model_metadata(request.name, request.version)
            tensor = pb.ModelMetadataResponse.TensorMetadata
            return pb.ModelMetadataResponse(
                name=meta["name"],
                versions=meta["versions"],
                platform=meta["platform"],
                inputs=[tensor(**spec) for spec in meta["inputs"]],
                outputs=[tensor(**spec) for spec in meta["outputs"]],
            )

        return self._call(context, request.name, answer)

    def ModelInfer(self, request: Any, context: grpc.ServicerContext) -> Any:
        def answer() -> Any:
            result = self._service.infer(to_request(request))
            response = pb.ModelInferResponse(model_name=result.model, model_version=result.version, id=result.id)
            for tensor in result.outputs:
                response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
                response.raw_output_contents.append(raw_bytes(tensor))
            return response

        return self._call(context, request.model_name, answer)


def _credentials(cert_file: Path, key_file: Path) -> grpc.ServerCredentials:
    try:
        pair = (key_file.read_bytes(), cert_file.read_bytes())
    except OSError as exc:
        raise ConfigError(f"api.tls: cannot read {exc.filename} ({exc.strerror})") from exc
    return grpc.ssl_server_credentials([pair])


class GrpcServer:
    """The gRPC endpoint; bound at construction so a taken port stops start-up."""

    def __init__(
        self,
        servicer: InferenceServicer,
        host: str,
        port: int,
        threads: int,
        max_message_bytes: int,
        tls: tuple[Path, Path] | None,
    ) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self._server = grpc.server(ThreadPoolExecutor(threads, thread_name_prefix="api-grpc"), options=options)
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if tls is not None:
                self.port = self._server.add_secure_port(address, _credentials(*tls))
            else:
                self.port = self._server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ConfigError(f"api.host/api.grpc_port: cannot listen on {address} ({exc})") from exc
        if self.port == 0:
            raise ConfigError(f"api.host/api.grpc_port: cannot listen on {address}")
        self.host = host

    def start(self) -> None:
        """Serve on grpc's own threads."""
        self._server.start()
        log.info("Open Inference Protocol gRPC on %s:%d", self.host, self.port)

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop accepting; let calls in flight finish for grace_s."""
        self._server.stop(grace_s).wait(grace_s + 1)
