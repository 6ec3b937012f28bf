"""The errors a use case can raise, and the one table of their codes.

A ``RegistryError`` carries a code from ``CODES``, a message that tells the
caller what to do, and optional details. It carries no HTTP: each surface
(registry/api, the CLI) renders it its own way.
"""

# code -> what it means. Every RegistryError carries one of these.
CODES = {
    "validation_error": "the input is malformed or breaks a rule on its values",
    "unauthorized": "no credentials, or credentials that are not valid",
    "forbidden": "the caller's role or model patterns do not allow this",
    "not_found": "the named thing does not exist",
    "already_exists": "something with that name exists",
    "artifact_exists": "different bytes are already stored at that path",
    "path_conflict": "a path would be both a file and a folder",
    "param_conflict": "a run's parameter already holds a different value",
    "invalid_transition": "the lifecycle does not allow that stage move",
    "model_in_use": "the model still has versions in Staging or Production",
    "idempotency_key_in_progress": "a request with the same key is still running",
    "idempotency_key_reused": "the key was used for a different request",
    "payload_too_large": "the bytes or the batch exceed a limit",
    "range_not_satisfiable": "the byte range starts past the end of the file",
    "source_not_found": "a version's source names nothing",
    "storage_unavailable": "blob storage does not answer",
    "database_unavailable": "the database does not answer",
    "storage_full": "blob storage has no room",
}


class RegistryError(Exception):
    """An error a client can act on; ``code`` is a key of CODES."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        if code not in CODES:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class StorageUnavailable(RegistryError):
    """Blob storage did not answer; raised by storage drivers."""

    def __init__(self, message: str):
        super().__init__("storage_unavailable", message)


class StorageFull(RegistryError):
    """Blob storage has no room for the bytes being written; raised by storage drivers."""

    def __init__(self, message: str):
        super().__init__("storage_full", message)
