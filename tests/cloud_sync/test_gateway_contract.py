"""Contract with the gateway: edge-agent's own OTA code polls, resumes a download and verifies the package."""

from __future__ import annotations

import json
from pathlib import Path

from flask.testing import FlaskClient

from edge_agent.ota.download import download_artifact
from edge_agent.ota.http import UrllibTransport
from edge_agent.ota.shadow import ShadowThresholds
from edge_agent.ota.state import Offer
from edge_agent.ota.updater import verify_artifact
from edge_agent.signing import TrustedKeys
from tests.cloud_sync.helpers import ADMIN, add_device, start_rollout
from tests.cloud_sync.pkgtools import MODEL


def test_a_gateway_fetches_resumes_and_verifies_its_offer(
    client: FlaskClient, live_url: str, published: Path, signing_key: Path, tmp_path: Path
) -> None:
    # given gw-1 in a rollout of 1.0.0 with shadow mode, talking HTTP through the gateway's own transport
    token = add_device(client, "gw-1")
    start_rollout(client, version="1.0.0", shadow={"min_samples": 10}, probation_s=120)
    transport = UrllibTransport()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    # when it polls its desired state
    polled = transport.request("GET", f"{live_url}/api/v1/devices/gw-1/desired", headers)
    [entry] = polled.json()["models"]
    # then the entry is what the gateway's offer model and shadow thresholds accept
    offer = Offer(
        name=entry["name"],
        version=entry["version"],
        rollout_id=entry["rollout_id"],
        artifact_url=entry["artifact_url"],
        artifact_sha256=entry["artifact_sha256"],
        artifact_size=entry["artifact_size"],
        shadow=entry["shadow"],
        probation_s=entry["probation_s"],
    )
    assert ShadowThresholds.model_validate(offer.shadow).min_samples == 10
    # when its first download attempt had stopped after 1000 bytes
    full = client.get(offer.artifact_url, headers=ADMIN).data
    destination = tmp_path / "downloads" / f"{MODEL}-1.0.0.tar"
    destination.parent.mkdir()
    destination.with_name(destination.name + ".part").write_bytes(full[:1000])
    transferred = download_artifact(
        transport, live_url + offer.artifact_url, headers, destination, offer.artifact_size, offer.artifact_sha256
    )
    # then only the rest travels, and the package passes the gateway's checks with the fleet key
    assert transferred == len(full) - 1000
    trusted = TrustedKeys.from_paths([signing_key.with_suffix(".pub")])
    staged = verify_artifact(destination, tmp_path / "staging", MODEL, "1.0.0", trusted, None)
    assert (staged / "manifest.json").read_bytes() == (published / "manifest.json").read_bytes()
    # and its state report, as the gateway builds it, is accepted
    body = {"name": MODEL, "version": "1.0.0", "state": "staged", "reason": "", "ts_ms": 1}
    body["rollout_id"] = offer.rollout_id
    sent = transport.request(
        "POST",
        f"{live_url}/api/v1/devices/gw-1/report",
        {**headers, "Content-Type": "application/json"},
        body=json.dumps({**body, "detail": {}}).encode(),
    )
    assert sent.status == 204
