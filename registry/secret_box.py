"""Secrets kept in the database (webhook signing secrets), encrypted with a key derived from the server's key.

A database dump alone does not reveal them. Changing REGISTRY_SECRET_KEY (or
losing <DATA_DIR>/secret.key) makes them unreadable: such a webhook must be
given a new secret.
"""
import base64
import hashlib

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken


class SecretUnreadable(Exception):
    """The stored secret was encrypted under another server key."""


class SecretBox:
    def __init__(self, server_key: str):
        digest = hashlib.sha256(b"registry webhook secrets\0" + server_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError) as exc:
            raise SecretUnreadable("the webhook's secret was sealed under another server key; "
                                   "PATCH the webhook with a new secret") from exc
