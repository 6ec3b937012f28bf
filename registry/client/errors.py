"""What the client raises: the service's error code and message, sorted into what a caller can do about it."""


class RegistryClientError(Exception):
    """The service refused or could not answer. ``code`` is its error code (or ``unreachable``)."""

    exit_code = 1

    def __init__(self, code: str, message: str, status: int | None = None, details: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status, self.details = code, message, status, details


class Refused(RegistryClientError):
    """The rules said no: invalid input, an invalid transition, a conflict. Retrying will not help."""

    exit_code = 3


class NotAllowed(RegistryClientError):
    """The token is missing, invalid, or its role or model patterns do not allow this."""

    exit_code = 4


class NotFound(RegistryClientError):
    exit_code = 5


class Unavailable(RegistryClientError):
    """The service (or its database or storage) did not answer; retried before this was raised."""

    exit_code = 6


class Corrupt(RegistryClientError):
    """Downloaded bytes do not match the manifest's sha256."""

    exit_code = 7


def for_status(status: int):
    if status in (401, 403):
        return NotAllowed
    if status == 404:
        return NotFound
    if status in (408, 429) or status >= 500:
        return Unavailable
    return Refused
