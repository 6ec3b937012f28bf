"""Path parameters as documented in openapi.yaml, with the patterns the code enforces."""
from ..domain.experiments import EXPERIMENT_NAME_PATTERN
from ..domain.names import ALIAS_PATTERN
from ..domain.names import ARTIFACT_PATH_PATTERN
from ..domain.names import MAX_PATH_LENGTH
from ..domain.names import MODEL_NAME_PATTERN
from ..domain.names import REF_PATTERN
from ..domain.names import RUN_ID_PATTERN
from ..domain.run_data import KEY_PATTERN as METRIC_KEY_PATTERN
from ..idempotency import KEY_PATTERN


def _path_param(name, description, **schema):
    return {"in": "path", "name": name, "description": description, "schema": {"type": "string", **schema}}


NAME = _path_param("name", "Model name.", pattern=MODEL_NAME_PATTERN)
RUN_ID = _path_param("run_id", "Run id: 32 lowercase hex digits.", pattern=RUN_ID_PATTERN)
REF = _path_param(
    "ref", "A version number, `latest`, a stage name in any case (the newest version in that stage), "
           "or `@alias`.",
    pattern=REF_PATTERN,
)
PATH = _path_param(
    "path", "Relative POSIX path: no empty, `.` or `..` segments, backslashes or control characters.",
    pattern=ARTIFACT_PATH_PATTERN, maxLength=MAX_PATH_LENGTH,
)

ALIAS = _path_param("alias", "Alias: letters, digits, '_' and '-'; `latest` and `v<number>` are reserved.",
                    pattern=ALIAS_PATTERN)
EXPERIMENT = _path_param("experiment_name", "Experiment name.", pattern=EXPERIMENT_NAME_PATTERN, maxLength=256)
METRIC_KEY = _path_param("key", "Metric key.", pattern=METRIC_KEY_PATTERN, maxLength=250)

MODEL = [NAME]
MODEL_ALIAS = [NAME, ALIAS]
RUN_METRIC = [RUN_ID, METRIC_KEY]
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
