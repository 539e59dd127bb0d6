"""Artifact downloads: full, ranged, resumed, unsatisfiable, conditional; from the filesystem and from S3."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud_sync.app import create_app, dispose
from cloud_sync.ranges import ByteRange, Unsatisfiable, parse_range
from cloud_sync.settings import Settings
from tests.cloud_sync.helpers import ADMIN, js
from tests.cloud_sync.pkgtools import MODEL, make_package, tar_dir

URL = f"/api/v1/models/{MODEL}/1.0.0/artifact"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", ByteRange(0, 999)),
        ("bytes=100-199", ByteRange(100, 199)),
        ("bytes=900-5000", ByteRange(900, 999)),
        ("bytes=-10", ByteRange(990, 999)),
        ("bytes=0-1,5-6", None),
        ("items=0-5", None),
        ("bytes=9-3", None),
    ],
)
def test_range_headers_are_read_as_one_byte_range(header: str | None, expected: ByteRange | None) -> None:
    # given a 1000-byte object, then each header means one range or the whole object
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_ranges_past_the_end_are_unsatisfiable(header: str) -> None:
    # given a 1000-byte object, then a range starting at or past its end cannot be served
    with pytest.raises(Unsatisfiable):
        parse_range(header, 1000)


def _full(client: FlaskClient) -> bytes:
    answer = client.get(URL, headers=ADMIN)
    assert answer.status_code == 200
    return answer.data


def test_the_whole_artifact_comes_with_its_etag(client: FlaskClient, published: Path) -> None:
    # given a published package
    listed = js(client.get("/api/v1/models", headers=ADMIN))[0]
    # when it is downloaded without Range
    answer = client.get(URL, headers=ADMIN)
    # then every byte arrives with the headers a resuming client needs
    assert answer.status_code == 200
    assert hashlib.sha256(answer.data).hexdigest() == listed["artifact_sha256"]
    assert answer.headers["ETag"] == f'"{listed["artifact_sha256"]}"'
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert answer.headers["Content-Length"] == str(listed["artifact_size"])
    assert answer.headers["Content-Type"] == "application/x-tar"
    # and HEAD tells the size without a body; a conditional request for the same ETag is answered 304
    head = client.head(URL, headers=ADMIN)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(listed["artifact_size"])
    again = client.get(URL, headers={**ADMIN, "If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304


def test_a_broken_download_resumes_from_where_it_stopped(client: FlaskClient, published: Path) -> None:
    # given the full artifact, and a client that got only the first 1000 bytes
    full = _full(client)
    size = len(full)
    # when it asks for the rest with bytes=1000-
    rest = client.get(URL, headers={**ADMIN, "Range": "bytes=1000-"})
    # then it gets 206 with exactly the missing bytes, and the pieces make the artifact
    assert rest.status_code == 206
    assert rest.headers["Content-Range"] == f"bytes 1000-{size - 1}/{size}"
    assert rest.headers["Content-Length"] == str(size - 1000)
    assert full[:1000] + rest.data == full
    # and a closed range returns just those bytes
    middle = client.get(URL, headers={**ADMIN, "Range": "bytes=10-19"})
    assert middle.status_code == 206 and middle.data == full[10:20]
    assert middle.headers["Content-Range"] == f"bytes 10-19/{size}"


def test_a_range_past_the_end_is_416(client: FlaskClient, published: Path) -> None:
    # given the artifact size
    size = len(_full(client))
    # when a client asks for bytes from the end onwards
    answer = client.get(URL, headers={**ADMIN, "Range": f"bytes={size}-"})
    # then the range cannot be satisfied, and the real size is named
    assert answer.status_code == 416
    assert answer.headers["Content-Range"] == f"bytes */{size}"
    assert js(answer)["error"] == "range_not_satisfiable"


def test_a_resume_of_other_bytes_gets_the_whole_artifact(client: FlaskClient, published: Path) -> None:
    # given a client whose partial copy came from a different artifact (If-Range names another ETag)
    full = _full(client)
    # when it asks to resume
    answer = client.get(URL, headers={**ADMIN, "Range": "bytes=100-", "If-Range": '"0000"'})
    # then it gets everything from the start
    assert answer.status_code == 200 and answer.data == full


def test_unknown_artifacts_are_404(client: FlaskClient, published: Path) -> None:
    # given only 1.0.0 is published, then 2.0.0 is not found
    answer = client.get(f"/api/v1/models/{MODEL}/2.0.0/artifact", headers=ADMIN)
    assert answer.status_code == 404 and js(answer)["error"] == "not_found"


@pytest.fixture
def s3_app(settings_values: dict[str, Any], s3_endpoint: str, s3_bucket: str) -> Any:
    """An app that stores artifacts in the moto S3 bucket under a prefix."""
    values = {**settings_values, "storage_url": f"s3://{s3_bucket}/fleet/artifacts", "s3_endpoint_url": s3_endpoint}
    values["s3_region"] = "us-east-1"
    built: Flask = create_app(Settings.model_validate(values))
    yield built
    dispose(built)


def test_artifacts_are_stored_in_and_streamed_from_s3(
    s3_app: Flask, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    # given an app whose storage is an S3 bucket
    client = s3_app.test_client()
    # when a package is published
    published = client.post("/api/v1/models", data=tar_dir(make_package(tmp_path)), headers=ADMIN)
    assert published.status_code == 201
    # then the artifact is an object under the prefix
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == [f"fleet/artifacts/models/{MODEL}/1.0.0/{js(published)['artifact_sha256']}.tar"]
    # and full and ranged downloads are served from it
    full = client.get(URL, headers=ADMIN)
    assert full.status_code == 200
    assert hashlib.sha256(full.data).hexdigest() == js(published)["artifact_sha256"]
    tail = client.get(URL, headers={**ADMIN, "Range": "bytes=512-"})
    assert tail.status_code == 206 and tail.data == full.data[512:]
    assert client.get(URL, headers={**ADMIN, "Range": f"bytes={len(full.data)}-"}).status_code == 416
