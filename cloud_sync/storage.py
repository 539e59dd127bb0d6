"""Artifact storage: one small interface, a filesystem and an S3 (boto3, any S3-compatible store) implementation."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from cloud_sync.errors import ConfigError, StorageError

log = logging.getLogger(__name__)
CHUNK = 256 * 1024
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def _checked_key(key: str) -> str:
    # Keys are built by the registry from validated names, but a key is never allowed to climb out.
    if not _KEY.match(key) or ".." in key.split("/"):
        raise StorageError(f"invalid storage key {key!r}")
    return key


class ByteStream(Protocol):
    """An open object body: iterate for chunks, close when done."""

    def __iter__(self) -> Iterator[bytes]:
        """Chunks of the requested byte range, in order."""
        ...

    def close(self) -> None:
        """Release the file handle or HTTP connection."""
        ...


class Storage(Protocol):
    """Where signed package tars live."""

    def put(self, key: str, source: Path) -> None:
        """Store the file at source under key (replacing nothing partially: readers see old or new)."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store a small object held in memory under key (a hard example), as put does."""
        ...

    def open(self, key: str, start: int, end: int) -> ByteStream:
        """Stream bytes start..end (inclusive) of the object."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; missing objects are fine."""
        ...


class _FileStream:
    """Bytes start..end of a local file."""

    def __init__(self, path: Path, start: int, end: int) -> None:
        self._handle = path.open("rb")
        self._handle.seek(start)
        self._left = end - start + 1

    def __iter__(self) -> Iterator[bytes]:
        while self._left > 0:
            chunk = self._handle.read(min(CHUNK, self._left))
            if not chunk:
                raise StorageError(f"{self._handle.name}: file ended early")
            self._left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self._handle.close()


class FileStorage:
    """Objects as files under a root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"storage_url {root.as_uri()}: cannot create directory ({exc.strerror})") from exc

    def _path(self, key: str) -> Path:
        return self.root / _checked_key(key)

    def put(self, key: str, source: Path) -> None:
        """Copy into place through a temporary file, fsync, then an atomic rename."""
        with source.open("rb") as src:
            self._write(key, iter(lambda: src.read(1 << 20), b""))

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write into place as put does."""
        self._write(key, [data])

    def _write(self, key: str, chunks: Iterable[bytes]) -> None:
        target = self._path(key)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with temporary.open("wb") as dst:
                for chunk in chunks:
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise StorageError(f"cannot store {key} under {self.root}: {exc.strerror}") from exc

    def open(self, key: str, start: int, end: int) -> ByteStream:
        """The byte range as a file stream."""
        try:
            return _FileStream(self._path(key), start, end)
        except OSError as exc:
            raise StorageError(f"cannot read {key} under {self.root}: {exc.strerror}") from exc

    def delete(self, key: str) -> None:
        """Unlink the file."""
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key} under {self.root}: {exc.strerror}") from exc


class _S3Stream:
    """A streaming GetObject body."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body.iter_chunks(CHUNK)
        except Exception as exc:  # botocore raises several unrelated types mid-stream
            raise StorageError(f"S3 read failed mid-stream: {exc}") from exc

    def close(self) -> None:
        self._body.close()


class S3Storage:
    """Objects in an S3 bucket under a prefix; credentials come from boto3's usual chain."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None, region: str | None) -> None:
        import boto3  # heavy; only the S3 backend needs it
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"})
        self._client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)

    def _key(self, key: str) -> str:
        key = _checked_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, source: Path) -> None:
        """Upload (multipart for large files); S3 makes the object visible only when complete."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.upload_file(str(source), self.bucket, self._key(key))
        except (BotoCoreError, ClientError, OSError) as exc:
            raise StorageError(f"cannot store {key} in s3://{self.bucket}/{self.prefix}: {exc}") from exc

    def put_bytes(self, key: str, data: bytes) -> None:
        """One PutObject: upload_file's transfer manager (threads, futures) costs several ms a call."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot store {key} in s3://{self.bucket}/{self.prefix}: {exc}") from exc

    def open(self, key: str, start: int, end: int) -> ByteStream:
        """GetObject with a Range header."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end}")
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot read {key} from s3://{self.bucket}/{self.prefix}: {exc}") from exc
        return _S3Stream(answer["Body"])

    def delete(self, key: str) -> None:
        """DeleteObject."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"cannot delete {key} from s3://{self.bucket}/{self.prefix}: {exc}") from exc


def open_storage(url: str, endpoint_url: str | None = None, region: str | None = None) -> Storage:
    """The storage a URL names: file:///PATH or s3://BUCKET/PREFIX."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ConfigError(f"storage_url {url}: a file URL has no host (file:///absolute/path)")
        return FileStorage(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigError(f"storage_url {url}: name the bucket (s3://BUCKET/PREFIX)")
        return S3Storage(parsed.netloc, parsed.path, endpoint_url, region)
    raise ConfigError(f"storage_url {url}: use file:///PATH or s3://BUCKET/PREFIX")
