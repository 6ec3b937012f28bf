"""Streaming a stored file to the browser: images inline (for previews), anything else as a download."""
import posixpath

from flask import Response

from ..domain import blobs
from ..domain.values import FileEntry
from ..storage.base import content_disposition

# Only raster images are shown inline: an SVG or HTML file could run script on this origin.
_INLINE = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
           ".webp": "image/webp"}


def is_image(path: str) -> bool:
    return posixpath.splitext(path)[1].lower() in _INLINE


def send(storage, entry: FileEntry) -> Response:
    """The file's bytes, streamed from storage, never held whole in memory."""
    mimetype = _INLINE.get(posixpath.splitext(entry.path)[1].lower(), "application/octet-stream")
    disposition = "inline" if mimetype != "application/octet-stream" else "attachment"
    return Response(
        blobs.open_file(storage, entry.sha256), status=200, mimetype=mimetype, direct_passthrough=True,
        headers={"Content-Length": str(entry.size), "ETag": f'"{entry.sha256}"',
                 "Content-Disposition": content_disposition(entry.path, disposition)},
    )
