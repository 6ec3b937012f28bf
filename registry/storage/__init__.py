"""Blob storage: pick a driver from REGISTRY_STORAGE_URL."""
import re
from urllib.parse import unquote
from urllib.parse import urlsplit

from ..config import ConfigError
from .base import StagedBlob
from .base import Storage

__all__ = ["StagedBlob", "Storage", "storage_from_url"]

# S3's bucket naming rules, checked here so a typo is a config error, not an outage.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# s3:// and s3+https:// are accepted as the same thing: any S3-compatible endpoint, path-style.
_FORMAT = "minio://ACCESS_KEY:SECRET_KEY@host:9000/bucket (or minio+https://..., s3://..., or file:///path)"


def storage_from_url(url, timeout=3):
    """Build a driver from a storage URL; raises ConfigError if it is malformed.

    ``timeout`` (MinIO only) bounds connecting and each wait for the server's next bytes.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError("STORAGE_URL", f"malformed URL ({exc}); expected {_FORMAT}") from exc
    if parts.scheme == "file":
        from .local import LocalStorage

        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ConfigError("STORAGE_URL", f"file:// needs a directory; expected {_FORMAT}")
        return LocalStorage(path)
    if parts.scheme in ("minio", "minio+http", "minio+https", "s3", "s3+https"):
        return _minio_from_parts(parts, port, timeout)
    raise ConfigError("STORAGE_URL", f"unsupported scheme {parts.scheme!r}; expected {_FORMAT}")


def _minio_from_parts(parts, port, timeout):
    from .minio_driver import MinioStorage

    bucket = parts.path.strip("/")
    if not parts.hostname or not parts.username or not parts.password or not bucket or "/" in bucket:
        raise ConfigError(
            "STORAGE_URL", f"needs credentials, a host and exactly one bucket; expected {_FORMAT}"
        )
    if not _BUCKET_RE.match(bucket):
        raise ConfigError(
            "STORAGE_URL", f"bucket {bucket!r} is not a valid S3 bucket name "
            "(3-63 characters: lowercase letters, digits, '.' and '-')"
        )
    host = parts.hostname if port is None else f"{parts.hostname}:{port}"
    return MinioStorage(
        endpoint=host,
        access_key=unquote(parts.username),
        secret_key=unquote(parts.password),
        bucket=bucket,
        secure=parts.scheme.endswith("https"),
        timeout=timeout,
    )
