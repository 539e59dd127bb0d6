"""The `api:` section of the agent config: models served over the Open Inference Protocol (KServe v2)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ApiTlsConfig(BaseModel):
    """TLS for the API's HTTP and gRPC ports."""

    model_config = ConfigDict(extra="forbid")

    cert_file: Path = Field(description="Server certificate chain (PEM)")
    key_file: Path = Field(description="Server private key (PEM)")


class ApiConfig(BaseModel):
    """HTTP/REST and gRPC endpoints of the Open Inference Protocol, over the same models MQTT uses."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Serve the models over HTTP and gRPC")
    host: str = Field(default="127.0.0.1", description="Bind address; anything but loopback requires token_file")
    http_port: int = Field(default=8000, ge=0, le=65535, description="HTTP/REST port; 0 picks a free port")
    grpc_port: int | None = Field(
        default=8001, ge=0, le=65535, description="gRPC port; 0 picks a free port, null turns gRPC off"
    )
    token_file: Path | None = Field(
        default=None,
        description="File with the bearer token clients must send; relative names resolve in $CREDENTIALS_DIRECTORY",
    )
    tls: ApiTlsConfig | None = Field(default=None, description="TLS on both ports; plain when absent")
    max_queue_delay_ms: float = Field(
        default=2.0, ge=0, le=1000, description="Longest a request waits for others to share its model run"
    )
    preferred_batch_size: int = Field(
        default=8, ge=1, le=256, description="A batch runs as soon as it holds this many items"
    )
    max_batch_size: int = Field(default=32, ge=1, le=1024, description="Most items (rows) one model run takes")
    queue_size: int = Field(
        default=64, ge=1, le=100_000, description="Items waiting for a model run; beyond it requests get 429"
    )
    per_client_concurrency: int = Field(
        default=32, ge=1, le=10_000, description="Requests one client address may have in flight; beyond it 429"
    )
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, le=1 << 30, description="Largest request body; beyond it 413"
    )
    threads: int = Field(default=8, ge=1, le=256, description="gRPC handler threads")
    share_when_busy: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="While MQTT inputs wait in a queue, the share of time API batches may use (1 = no yielding)",
    )
    pinned_versions: int = Field(
        default=2, ge=0, le=16, description="Older installed versions kept loaded for requests that name them"
    )
