"""Downloads: a version's files one by one (with Range and ETag) or as one tar."""
import calendar

from flask import Response
from flask import current_app
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from .. import archive
from .. import service
from ..errors import RegistryError
from ..schemas import ErrorSchema
from ..schemas import FileListSchema
from . import params
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
    },
)
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
        return {"files": service.get_version(name, ref).file_list}


@blp.route("/models/<name>/versions/<ref>/files/<path:path>", parameters=params.VERSION_FILE)
class VersionFile(MethodView):
    @requires("reader")
    @blp.doc(responses={
        "200": {"description": "The whole file.", "headers": _FILE_HEADERS, "content": _BINARY},
        "206": {"description": "The requested byte range.",
                "headers": dict(_FILE_HEADERS, **{"Content-Range": {"schema": {"type": "string"}}}),
                "content": _BINARY},
        "304": {"description": "If-None-Match matched the ETag."},
    })
    @blp.alt_response(416, schema=ErrorSchema, description="The range starts past the end of the file.",
                      headers={"Content-Range": {"schema": {"type": "string"}}})
    def get(self, name, ref, path):
        """Stream one file; supports a single Range, If-Range and If-None-Match."""
        version = service.get_version(name, ref)
        f = service.version_file(version, path)
        headers = {
            "ETag": f'"{f.sha256}"',
            "Accept-Ranges": "bytes",
            "X-Model-Version": str(version.version),
        }
        if request.if_none_match.contains(f.sha256):
            return Response(status=304, headers=headers)
        start, stop = 0, f.size
        byte_range = _requested_range(f)
        if byte_range is not None:
            start, stop = byte_range
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{f.size}"
        headers["Content-Length"] = str(stop - start)
        body = _storage().open(f.sha256, offset=start, length=stop - start)
        return Response(
            body,
            status=206 if byte_range is not None else 200,
            headers=headers,
            mimetype="application/octet-stream",
            direct_passthrough=True,
        )


def _requested_range(f):
    """(start, stop) for a satisfiable single byte range, None to send everything.

    Raises 416 when the range starts past the end. Multiple ranges, other
    units, malformed headers and stale If-Range are answered with the whole
    file, as RFC 9110 allows.
    """
    requested = request.range
    if requested is None or requested.units != "bytes" or len(requested.ranges) != 1:
        return None
    if_range = request.if_range
    if if_range.etag is not None or if_range.date is not None:
        if if_range.etag != f.sha256:
            return None
    start, stop = requested.ranges[0]
    if start < 0:  # bytes=-n: the last n bytes, or all of them
        start, stop = max(f.size + start, 0), f.size
    else:
        stop = f.size if stop is None else min(stop, f.size)
    if start >= f.size:
        raise RegistryError(
            "range_not_satisfiable",
            f"The file is {f.size} bytes long; the requested range starts past its end.",
            {"size": f.size},
            headers={"Content-Range": f"bytes */{f.size}"},
        )
    return start, stop


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
        version = service.get_version(name, ref)
        storage = _storage()
        storage.check()  # fail with 503 now rather than cut the stream later
        mtime = calendar.timegm(version.created_at.timetuple())
        entries, length = archive.plan(version.file_list, mtime)
        filename = f"{version.model.name}-v{version.version}.tar"
        return Response(
            archive.stream(storage, entries),
            status=200,
            headers={
                "Content-Length": str(length),
                "Content-Disposition": f'attachment; filename="{filename}"',
                "X-Model-Version": str(version.version),
            },
            mimetype="application/x-tar",
            direct_passthrough=True,
        )
