"""REST bodies of the Open Inference Protocol: JSON tensors and the binary tensor data extension, both ways."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edge_agent.api.tensors import (
    BYTES,
    ApiError,
    InferRequest,
    InferResponse,
    Status,
    Tensor,
    array_from_list,
    array_from_raw,
    raw_bytes,
    unpack_bytes,
)

HEADER_LENGTH = "Inference-Header-Content-Length"


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(Status.INVALID, f"{what} must be a JSON object")
    return value


def _shape(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise ApiError(Status.INVALID, f"input {name!r}: shape must be a list of integers")
    return value


def _bytes_from_json(values: Any, shape: list[int], name: str) -> list[bytes]:
    flat = np.asarray(values, dtype=object).ravel().tolist() if isinstance(values, list) else None
    if flat is None or not all(isinstance(v, str) for v in flat):
        raise ApiError(Status.INVALID, f"input {name!r}: BYTES data must be a list of strings")
    if len(flat) != int(np.prod(shape)):
        raise ApiError(Status.INVALID, f"input {name!r}: {len(flat)} strings do not fill shape {shape}")
    return [v.encode("utf-8") for v in flat]


def _input(document: Any, binary: memoryview, offset: int) -> tuple[Tensor, int]:
    spec = _object(document, "each input")
    name = spec.get("name")
    datatype = spec.get("datatype")
    if not isinstance(name, str) or not isinstance(datatype, str):
        raise ApiError(Status.INVALID, "each input needs a string 'name' and 'datatype'")
    shape = _shape(spec.get("shape"), name)
    parameters = _object(spec.get("parameters") or {}, f"input {name!r} parameters")
    size = parameters.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0:
            raise ApiError(Status.INVALID, f"input {name!r}: binary_data_size must be a non-negative integer")
        if offset + size > len(binary):
            raise ApiError(
                Status.INVALID,
                f"input {name!r}: binary_data_size {size} but only {len(binary) - offset} binary bytes remain "
                "(truncated body?)",
            )
        chunk = bytes(binary[offset : offset + size])
        if datatype == BYTES:
            data: np.ndarray | list[bytes] = unpack_bytes(chunk, name)
            if len(data) != int(np.prod(shape)):
                raise ApiError(Status.INVALID, f"input {name!r}: {len(data)} BYTES elements do not fill {shape}")
        else:
            data = array_from_raw(chunk, datatype, shape, name)
        return Tensor(name, datatype, shape, data, parameters), offset + size
    if "data" not in spec:
        raise ApiError(Status.INVALID, f"input {name!r} has neither 'data' nor parameters.binary_data_size")
    if datatype == BYTES:
        return Tensor(name, datatype, shape, _bytes_from_json(spec["data"], shape, name), parameters), offset
    return Tensor(name, datatype, shape, array_from_list(spec["data"], datatype, shape, name), parameters), offset


def parse_infer(body: bytes, header_length: str | None, model: str, version: str) -> tuple[InferRequest, set[str]]:
    """The request and the names of outputs to send binary; ApiError with the reason for anything malformed."""
    if header_length is not None:
        try:
            json_size = int(header_length)
        except ValueError as exc:
            raise ApiError(Status.INVALID, f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from exc
        if not 0 < json_size <= len(body):
            raise ApiError(Status.INVALID, f"{HEADER_LENGTH} is {json_size} but the body has {len(body)} bytes")
    else:
        json_size = len(body)
    try:
        document = json.loads(body[:json_size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(Status.INVALID, f"request body is not valid JSON ({exc})") from exc
    document = _object(document, "the request")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ApiError(Status.INVALID, "'inputs' must be a non-empty list")
    binary = memoryview(body)[json_size:]
    tensors, offset = [], 0
    for spec in inputs:
        tensor, offset = _input(spec, binary, offset)
        tensors.append(tensor)
    if offset != len(binary):
        raise ApiError(Status.INVALID, f"{len(binary) - offset} binary bytes follow the JSON that no input claims")
    parameters = _object(document.get("parameters") or {}, "'parameters'")
    all_binary = parameters.get("binary_data_output") is True
    names, binary_names = None, set()
    if document.get("outputs") is not None:
        if not isinstance(document["outputs"], list):
            raise ApiError(Status.INVALID, "'outputs' must be a list")
        names = []
        for out in document["outputs"]:
            out = _object(out, "each output")
            if not isinstance(out.get("name"), str):
                raise ApiError(Status.INVALID, "each output needs a string 'name'")
            names.append(out["name"])
            flag = _object(out.get("parameters") or {}, "output parameters").get("binary_data")
            if flag is True or (flag is None and all_binary):
                binary_names.add(out["name"])
    elif all_binary:
        binary_names = {"*"}
    request_id = document.get("id", "")
    request = InferRequest(model, version, tensors, names, str(request_id), parameters)
    return request, binary_names


def _json_data(tensor: Tensor) -> list[Any]:
    if isinstance(tensor.data, list):
        return [item.decode("utf-8", errors="replace") for item in tensor.data]
    return tensor.data.ravel().tolist()


def encode_infer(response: InferResponse, binary_names: set[str]) -> tuple[bytes, int | None]:
    """The response body and, when any output is binary, the length of its JSON part."""
    outputs, chunks = [], []
    for tensor in response.outputs:
        entry: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape}
        if "*" in binary_names or tensor.name in binary_names:
            chunk = raw_bytes(tensor)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = _json_data(tensor)
        outputs.append(entry)
    document: dict[str, Any] = {"model_name": response.model, "model_version": response.version, "outputs": outputs}
    if response.id:
        document["id"] = response.id
    head = json.dumps(document, separators=(",", ":")).encode()
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)
