"""Path parameters as documented in openapi.yaml, with the patterns the code enforces."""
from ..domain.names import ARTIFACT_PATH_PATTERN
from ..domain.names import MAX_PATH_LENGTH
from ..domain.names import MODEL_NAME_PATTERN
from ..domain.names import REF_PATTERN
from ..domain.names import RUN_ID_PATTERN
from ..idempotency import KEY_PATTERN


def _path_param(name, description, **schema):
    return {"in": "path", "name": name, "description": description, "schema": {"type": "string", **schema}}


NAME = _path_param("name", "Model name.", pattern=MODEL_NAME_PATTERN)
RUN_ID = _path_param("run_id", "Run id: 32 lowercase hex digits.", pattern=RUN_ID_PATTERN)
REF = _path_param(
    "ref", "A version number, `latest`, or a stage name in any case (the newest version in that stage).",
    pattern=REF_PATTERN,
)
PATH = _path_param(
    "path", "Relative POSIX path: no empty, `.` or `..` segments, backslashes or control characters.",
    pattern=ARTIFACT_PATH_PATTERN, maxLength=MAX_PATH_LENGTH,
)

MODEL = [NAME]
VERSION = [NAME, REF]
VERSION_FILE = [NAME, REF, PATH]
RUN = [RUN_ID]
RUN_FILE = [RUN_ID, PATH]

IDEMPOTENCY_KEY = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "description": "Retry safely: a repeat with the same key and body within 24 hours returns the "
                   "first answer (Idempotent-Replayed: true) without acting again; the same key with "
                   "another body is 422 idempotency_key_reused. Scoped to the token.",
    "schema": {"type": "string", "pattern": KEY_PATTERN, "maxLength": 255},
}
