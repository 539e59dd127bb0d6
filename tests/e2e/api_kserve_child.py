"""The kserve SDK's REST client against a served agent, in its own process (kserve and tritonclient.grpc both
register the protocol's `inference.*` messages, so one process cannot import both)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


async def main(base_url: str, token: str, jpeg_path: str, features_json: str) -> dict[str, object]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    headers = {"Authorization": f"Bearer {token}"}
    image = InferInput("image_bytes", [1], "BYTES")
    image.set_data_from_numpy(np.array([Path(jpeg_path).read_bytes()], dtype=np.object_), binary_data=True)
    request = InferRequest("surface-inspection", [image])
    answer = await client.infer(base_url, request, "surface-inspection", dict(headers))
    features = np.asarray(json.loads(features_json), dtype=np.float32)
    raw = InferInput("features", list(features.shape), "FP32")
    raw.set_data_from_numpy(features, binary_data=False)
    health = await client.infer(base_url, InferRequest("bearing-health", [raw]), "bearing-health", dict(headers))
    await client.close()
    image_out = {o.name: o.as_numpy().tolist() for o in answer.outputs}
    health_out = {o.name: o.as_numpy().tolist() for o in health.outputs}
    for values in (image_out, health_out):
        for key, value in values.items():
            values[key] = [v.decode() if isinstance(v, bytes) else v for v in value]
    return {"image": image_out, "health": health_out, "version": answer.model_version}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:5]))))
