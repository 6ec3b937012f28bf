"""Every error code's HTTP status, for the surfaces that speak plain HTTP: the native API and the web UI.

The MLflow surface maps codes to MLflow's own error codes and statuses (registry/mlflow/errors.py).
"""

# code -> HTTP status, for every domain code and the codes only HTTP has.
STATUS = {
    "validation_error": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "request_timeout": 408,
    "already_exists": 409,
    "artifact_exists": 409,
    "path_conflict": 409,
    "param_conflict": 409,
    "invalid_transition": 409,
    "model_in_use": 409,
    "idempotency_key_in_progress": 409,
    "payload_too_large": 413,
    "uri_too_long": 414,
    "range_not_satisfiable": 416,
    "source_not_found": 422,
    "idempotency_key_reused": 422,
    "headers_too_large": 431,
    "internal_error": 500,
    "storage_unavailable": 503,
    "database_unavailable": 503,
    "server_busy": 503,
    "storage_full": 507,
}
