"""Protocol-neutral tensors of the Open Inference Protocol: datatypes, BYTES packing, requests and errors."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from edge_agent.errors import EdgeAgentError

# KServe v2 datatype <-> numpy; BYTES is a list of byte strings, never a numpy dtype
DATATYPES: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
NUMPY_TO_DATATYPE = {v: k for k, v in DATATYPES.items()}
BYTES = "BYTES"


class Status(Enum):
    """Protocol-neutral outcome of a call; the HTTP and gRPC layers map it to their codes."""

    OK = (200, "OK")
    INVALID = (400, "INVALID_ARGUMENT")
    UNAUTHENTICATED = (401, "UNAUTHENTICATED")
    NOT_FOUND = (404, "NOT_FOUND")
    TOO_LARGE = (413, "RESOURCE_EXHAUSTED")
    EXHAUSTED = (429, "RESOURCE_EXHAUSTED")
    INTERNAL = (500, "INTERNAL")
    UNAVAILABLE = (503, "UNAVAILABLE")

    @property
    def http(self) -> int:
        """HTTP status code."""
        return self.value[0]

    @property
    def grpc(self) -> str:
        """Name of the grpc.StatusCode member."""
        return self.value[1]


class ApiError(EdgeAgentError):
    """A request the API refuses; the message is the reason the client reads."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class Tensor:
    """One named tensor: a numpy array, or a list of byte strings for BYTES."""

    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray | list[bytes]
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferRequest:
    """An inference request as both protocols carry it."""

    model: str
    version: str
    inputs: list[Tensor]
    outputs: list[str] | None = None
    id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferResponse:
    """Outputs of one request, and the exact model version that made them."""

    model: str
    version: str
    outputs: list[Tensor]
    id: str = ""


def element_count(shape: list[int]) -> int:
    """Elements a shape holds; ApiError for negative dimensions."""
    if any(d < 0 for d in shape):
        raise ApiError(Status.INVALID, f"shape {shape} has a negative dimension")
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def numpy_dtype(datatype: str, name: str) -> np.dtype:
    """The numpy dtype of a non-BYTES datatype; ApiError for names the protocol does not have."""
    try:
        return np.dtype(DATATYPES[datatype])
    except KeyError as exc:
        raise ApiError(Status.INVALID, f"input {name!r}: unknown datatype {datatype!r}") from exc


def array_from_raw(raw: bytes, datatype: str, shape: list[int], name: str) -> np.ndarray:
    """A tensor from its flat little-endian bytes; ApiError when the length disagrees with the shape."""
    dtype = numpy_dtype(datatype, name).newbyteorder("<")
    expected = element_count(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ApiError(
            Status.INVALID,
            f"input {name!r}: {len(raw)} bytes of data; shape {shape} of {datatype} needs {expected}",
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def array_from_list(values: Any, datatype: str, shape: list[int], name: str) -> np.ndarray:
    """A tensor from JSON data (flat or nested, row-major); ApiError when it does not fill the shape."""
    dtype = numpy_dtype(datatype, name)
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ApiError(Status.INVALID, f"input {name!r}: data is not a list of {datatype} values") from exc
    if array.size != element_count(shape):
        raise ApiError(Status.INVALID, f"input {name!r}: {array.size} values do not fill shape {shape}")
    return array.reshape(shape)


def unpack_bytes(raw: bytes, name: str) -> list[bytes]:
    """BYTES elements from their binary form: each a 4-byte little-endian length, then the bytes."""
    items, pos = [], 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise ApiError(Status.INVALID, f"input {name!r}: BYTES data ends inside an element's length")
        (length,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + length > len(raw):
            raise ApiError(Status.INVALID, f"input {name!r}: a BYTES element says {length} bytes; fewer follow")
        items.append(raw[pos : pos + length])
        pos += length
    return items


def pack_bytes(items: list[bytes]) -> bytes:
    """The binary form of BYTES elements."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def raw_bytes(tensor: Tensor) -> bytes:
    """The binary (little-endian, row-major) form of a tensor."""
    if isinstance(tensor.data, list):
        return pack_bytes(tensor.data)
    return np.ascontiguousarray(tensor.data, dtype=tensor.data.dtype.newbyteorder("<")).tobytes()
