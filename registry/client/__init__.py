"""The client for pipelines: ``Client(url, token)`` for every native endpoint, and push/pull for files.

It talks to a running service over HTTP (REGISTRY_URL, REGISTRY_TOKEN), unlike
the admin commands, which open the database directly.
"""
from .api import Client
from .errors import Corrupt
from .errors import NotAllowed
from .errors import NotFound
from .errors import Refused
from .errors import RegistryClientError
from .errors import Unavailable
from .transfer import pull
from .transfer import push

__all__ = ["Client", "Corrupt", "NotAllowed", "NotFound", "Refused", "RegistryClientError", "Unavailable",
           "pull", "push"]
