"""The protocol-neutral inference service: metadata, readiness, and infer through the same pre/post-processing."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from edge_agent import __version__
from edge_agent.api.batcher import DynamicBatcher
from edge_agent.api.catalog import ModelCatalog, Pipeline
from edge_agent.api.outputs import all_outputs, build_outputs, default_outputs, encoded_input, raw_input
from edge_agent.api.tensors import ApiError, InferRequest, InferResponse, Status, Tensor
from edge_agent.errors import EdgeAgentError, InferenceError, InputError
from edge_agent.ingest.images import ImageLimits, decode_image
from edge_agent.ingest.vibration import parse_vibration
from edge_agent.pipelines.image_preprocess import dihedral_views
from edge_agent.pipelines.inspection import QualityInspector
from edge_agent.pipelines.workers import AssetDefaults

log = logging.getLogger(__name__)
EXTENSIONS = ["binary_tensor_data", "model_repository", "encoded_inputs"]


class InferenceService:
    """What both protocols answer; each call reads the active pipeline once, so a swap never splits a request."""

    def __init__(
        self,
        catalog: ModelCatalog,
        batcher: DynamicBatcher,
        assets: Mapping[str, AssetDefaults],
        image_limits: ImageLimits,
        ready: Callable[[], bool],
    ) -> None:
        self.catalog = catalog
        self.batcher = batcher
        self._assets = dict(assets)
        self._limits = image_limits
        self._ready = ready

    def server_metadata(self) -> dict[str, Any]:
        """Name, version and protocol extensions of this server."""
        return {"name": "edge-agent", "version": __version__, "extensions": EXTENSIONS}

    def ready(self) -> bool:
        """True once every served model is loaded and self-tested."""
        return self._ready() and bool(self.catalog.names())

    def model_ready(self, name: str, version: str) -> bool:
        """True when the model (version) can answer now; NOT_FOUND for unknown ones."""
        self.catalog.resolve(name, version)
        return True

    def model_metadata(self, name: str, version: str) -> dict[str, Any]:
        """Inputs and outputs with datatype and shape from the manifest; both input styles are listed."""
        pipeline = self.catalog.resolve(name, version)
        manifest = pipeline.model.manifest
        return {
            "name": name,
            "versions": self.catalog.installed_versions(name),
            "platform": f"{manifest.runtime}_{manifest.task}",
            "inputs": [raw_input(manifest).as_dict(), encoded_input(manifest).as_dict()],
            "outputs": [spec.as_dict() for spec in all_outputs(manifest)],
            "parameters": {"version": manifest.version, "labels": manifest.output.labels, "sha256": manifest.sha256},
        }

    def infer(self, request: InferRequest) -> InferResponse:
        """Run one request (raw tensor or encoded input) as part of a shared batch."""
        pipeline = self.catalog.resolve(request.model, request.version)
        manifest = pipeline.model.manifest
        if len(request.inputs) != 1:
            raise ApiError(Status.INVALID, f"expected exactly one input, got {len(request.inputs)}")
        tensor = request.inputs[0]
        raw_spec, encoded_spec = raw_input(manifest), encoded_input(manifest)
        if tensor.name not in (raw_spec.name, encoded_spec.name):
            raise ApiError(
                Status.INVALID,
                f"unknown input {tensor.name!r}; model {request.model!r} takes {raw_spec.name!r} "
                f"({raw_spec.datatype} {raw_spec.shape}) or {encoded_spec.name!r} (BYTES)",
            )
        known = {spec.name for spec in all_outputs(manifest)}
        unknown = [name for name in request.outputs or [] if name not in known]
        if unknown:
            raise ApiError(Status.INVALID, f"unknown outputs {unknown}; the model has {sorted(known)}")
        encoded = tensor.name == encoded_spec.name
        views = manifest.input.test_time_views
        with self.batcher.preparing() as ticket:
            rows = self._encoded_rows(pipeline, tensor, request) if encoded else self._raw_rows(pipeline, tensor)
            if views > 1:  # the package's verdict is judged on its test-time views, as on MQTT
                rows = np.stack([view for row in rows for view in dihedral_views(row, views)])
            try:
                raw, _ = self.batcher.submit(pipeline, pipeline.model.runtime.run, rows, ticket)
            except InferenceError as exc:
                raise ApiError(Status.INTERNAL, f"inference failed: {exc}") from exc
        names = request.outputs or default_outputs(manifest, encoded)
        try:
            outputs = build_outputs(manifest, raw, names, views)
        except InferenceError as exc:
            raise ApiError(Status.INTERNAL, f"post-processing failed: {exc}") from exc
        return InferResponse(request.model, manifest.version, outputs, request.id)

    def _check_rows(self, count: int, name: str) -> None:
        limit = self.batcher.settings.max_batch_size
        if not 1 <= count <= limit:
            raise ApiError(Status.INVALID, f"input {name!r} holds {count} items; 1 to {limit} per request")

    def _raw_rows(self, pipeline: Pipeline, tensor: Tensor) -> np.ndarray:
        spec = raw_input(pipeline.model.manifest)
        if tensor.datatype != spec.datatype or not isinstance(tensor.data, np.ndarray):
            raise ApiError(Status.INVALID, f"input {spec.name!r} must be {spec.datatype}, got {tensor.datatype}")
        shape = list(tensor.data.shape)
        if len(shape) != len(spec.shape) or any(d not in (-1, a) for d, a in zip(spec.shape[1:], shape[1:])):
            raise ApiError(Status.INVALID, f"input {spec.name!r} has shape {shape}; the model takes {spec.shape}")
        self._check_rows(shape[0], spec.name)
        return tensor.data

    def _encoded_rows(self, pipeline: Pipeline, tensor: Tensor, request: InferRequest) -> np.ndarray:
        if not isinstance(tensor.data, list):
            raise ApiError(Status.INVALID, f"input {tensor.name!r} must be BYTES, got {tensor.datatype}")
        items = tensor.data
        if tensor.parameters.get("content_type") == "base64":
            items = [_unbase64(item, tensor.name) for item in items]
        self._check_rows(len(items), tensor.name)
        defaults = self._asset_defaults(request)
        prepared = []
        for index, item in enumerate(items):
            try:
                if isinstance(pipeline, QualityInspector):
                    prepared.append(pipeline.prepare(decode_image(item, self._limits)))
                else:
                    window = parse_vibration(item, defaults.bearing, defaults.rpm)
                    prepared.append(pipeline.prepare(window))
            except InputError as exc:
                raise ApiError(Status.INVALID, f"input {tensor.name!r} item {index}: {exc}") from exc
            except EdgeAgentError as exc:  # a manifest step that cannot apply: the package, not the input
                raise ApiError(Status.INTERNAL, f"input {tensor.name!r} item {index}: {exc}") from exc
        dtype = np.dtype(pipeline.model.manifest.input.dtype)
        return np.stack(prepared).astype(dtype, copy=False)

    def _asset_defaults(self, request: InferRequest) -> AssetDefaults:
        asset = request.parameters.get("asset")
        if asset is None:
            return AssetDefaults(None, None)
        if not isinstance(asset, str) or asset not in self._assets:
            raise ApiError(Status.INVALID, f"unknown asset {asset!r}; configured: {', '.join(sorted(self._assets))}")
        return self._assets[asset]


def _unbase64(item: bytes, name: str) -> bytes:
    try:
        return base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(Status.INVALID, f"input {name!r}: content_type base64 but the data is not base64") from exc
