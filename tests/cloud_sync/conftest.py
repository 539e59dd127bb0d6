"""Fixtures: a per-test cloud-sync app on SQLite and on a real PostgreSQL, an S3 (moto) server, helpers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from cloud_sync.app import create_app, dispose
from cloud_sync.settings import Settings
from tests.cloud_sync.helpers import ADMIN, ADMIN_TOKEN
from tests.cloud_sync.pg import PostgresCluster, free_port
from tests.cloud_sync.pkgtools import make_package, tar_dir


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL server for the session; the tests fail (never skip) when it cannot start."""
    try:
        cluster = PostgresCluster()
        cluster.start()
    except (RuntimeError, OSError, KeyError) as exc:
        pytest.fail(f"PostgreSQL could not be started for the cloud_sync tests: {exc}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind (the app migrates it with Alembic)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud-sync.db'}"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    name = cluster.create_database()
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture
def signing_key(tmp_path: Path) -> Path:
    """A fleet private key file with mode 0600 (its .pub beside it)."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "keys" / "fleet.key"
    path.parent.mkdir()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
    path.with_suffix(".pub").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


@pytest.fixture
def settings_values(tmp_path: Path, database_url: str, signing_key: Path) -> dict[str, Any]:
    """Settings of a test app; tests may change them before the app is built."""
    return {
        "state_dir": tmp_path / "state",
        "database_url": database_url,
        "signing_key_path": signing_key,
        "admin_token": ADMIN_TOKEN,
        "max_upload_bytes": 4 * 1024 * 1024,
    }


@pytest.fixture
def app(settings_values: dict[str, Any]) -> Iterator[Flask]:
    """A new app per test, its database migrated to head."""
    built = create_app(Settings.model_validate(settings_values))
    yield built
    dispose(built)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask test client of the app."""
    return app.test_client()


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A good package directory line-qi/1.0.0."""
    return make_package(tmp_path / "packages")


@pytest.fixture
def published(client: FlaskClient, package: Path) -> Path:
    """line-qi 1.0.0 already published."""
    answer = client.post("/api/v1/models", data=tar_dir(package), headers=ADMIN, content_type="application/x-tar")
    assert answer.status_code == 201, answer.json
    return package


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on a free port (werkzeug, threaded)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (no network)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the moto server, with dummy credentials in the environment boto3 reads."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"artifacts-{free_port()}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return bucket
