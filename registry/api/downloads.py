"""Downloads: a version's files one by one (with Range and ETag) or as one tar."""
import calendar

from flask import Response
from flask import current_app
from flask import redirect
from flask import request
from flask.views import MethodView

from .. import archive
from .. import ranges
from ..domain import blobs
from ..domain import service
from ..storage.base import content_disposition
from . import params
from .parsing import Blueprint
from .schemas import ErrorSchema
from .schemas import FileDownloadQuerySchema
from .schemas import FileListSchema
from .security import principal
from .security import requires

blp = Blueprint("downloads", __name__, description="Streaming downloads of a version's files.")

_STREAM_HEADERS = {
    "Content-Length": {"schema": {"type": "integer"}},
    "X-Model-Version": {"schema": {"type": "integer"}, "description": "The version the ref resolved to."},
}
_FILE_HEADERS = dict(
    _STREAM_HEADERS,
    **{
        "ETag": {"schema": {"type": "string"}, "description": "The quoted sha256 of the file."},
        "Accept-Ranges": {"schema": {"type": "string"}},
        "Content-Disposition": {"schema": {"type": "string"}, "description": "attachment, named after the file."},
    },
)
_REDIRECT_HEADERS = {
    "Location": {"schema": {"type": "string"}, "description": "A presigned storage URL, valid for "
                 "REGISTRY_DOWNLOAD_REDIRECT_SECONDS; it serves Range requests and the same Content-Disposition."},
    "ETag": _FILE_HEADERS["ETag"],
    "X-Model-Version": _STREAM_HEADERS["X-Model-Version"],
}
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_TAR = {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}}


def _storage():
    return current_app.extensions["registry_storage"]


@blp.route("/models/<name>/versions/<ref>/files", parameters=params.VERSION)
class VersionFiles(MethodView):
    @requires("reader")
    @blp.response(200, FileListSchema)
    def get(self, name, ref):
        """The version's files with sizes and sha256 digests."""
        return {"files": service.get_version(principal(), name, ref).files}


@blp.route("/models/<name>/versions/<ref>/files/<path:path>", parameters=params.VERSION_FILE)
class VersionFile(MethodView):
    @requires("reader")
    @blp.arguments(FileDownloadQuerySchema, location="query")
    @blp.doc(responses={
        "200": {"description": "The whole file.", "headers": _FILE_HEADERS, "content": _BINARY},
        "206": {"description": "The requested byte range.",
                "headers": dict(_FILE_HEADERS, **{"Content-Range": {"schema": {"type": "string"}}}),
                "content": _BINARY},
        "302": {"description": "With REGISTRY_DOWNLOAD_REDIRECT=1 (MinIO storage): fetch the file from "
                       "storage directly. Not for If-Range requests, whose ETag storage does not know.",
                "headers": _REDIRECT_HEADERS},
        "304": {"description": "If-None-Match matched the ETag."},
    })
    @blp.alt_response(416, schema=ErrorSchema, description="The range starts past the end of the file.",
                      headers={"Content-Range": {"schema": {"type": "string"}}})
    def get(self, query, name, ref, path):
        """Stream one file (or redirect to storage); supports a single Range, If-Range and If-None-Match."""
        version = service.get_version(principal(), name, ref)
        f = service.version_file(version, path)
        headers = {
            "ETag": f'"{f.sha256}"',
            "Accept-Ranges": "bytes",
            "X-Model-Version": str(version.version),
        }
        if ranges.not_modified(f.sha256, request.if_none_match):
            return Response(status=304, headers=headers)
        headers["Content-Disposition"] = content_disposition(f.path)
        if query["redirect"] and current_app.config["DOWNLOAD_REDIRECT"] and not request.headers.get("If-Range"):
            return _redirect_to_storage(f, headers)
        span = ranges.span(f.size, f.sha256, request.range, request.if_range)
        if span.partial:
            headers["Content-Range"] = span.content_range
        headers["Content-Length"] = str(span.length)
        body = blobs.open_file(_storage(), f.sha256, offset=span.start, length=span.length)
        return Response(
            body,
            status=206 if span.partial else 200,
            headers=headers,
            mimetype="application/octet-stream",
            direct_passthrough=True,
        )


def _redirect_to_storage(f, headers):
    url = _storage().presigned_url(blobs.key_of(f.sha256), current_app.config["DOWNLOAD_REDIRECT_SECONDS"], f.path)
    response = redirect(url, code=302)
    response.headers.update({name: headers[name] for name in ("ETag", "X-Model-Version")})
    # The URL expires; a cache must not replay it.
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/models/<name>/versions/<ref>/archive", parameters=params.VERSION)
class VersionArchive(MethodView):
    @requires("reader")
    @blp.doc(responses={
        "200": {"description": "All files of the version as a tar.",
                "headers": dict(_STREAM_HEADERS, **{"Content-Disposition": {"schema": {"type": "string"}}}),
                "content": _TAR},
    })
    def get(self, name, ref):
        """Stream every file of the version as one tar archive."""
        version = service.get_version(principal(), name, ref)
        storage = _storage()
        storage.check()  # fail with 503 now rather than cut the stream later
        mtime = calendar.timegm(version.created_at.timetuple())
        entries, length = archive.plan(version.files, mtime)
        keys = blobs.keys_of(f.sha256 for f in version.files)
        return Response(
            archive.stream(storage, entries, keys),
            status=200,
            headers={
                "Content-Length": str(length),
                "Content-Disposition": content_disposition(f"{version.name}-v{version.version}.tar"),
                "X-Model-Version": str(version.version),
            },
            mimetype="application/x-tar",
            direct_passthrough=True,
        )
