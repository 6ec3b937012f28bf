"""The server's signing key: REGISTRY_SECRET_KEY, or a random key kept in the data directory.

Several workers may start at once on a fresh data directory; the key file is
written whole under a temporary name and linked into place, so every worker
ends up reading the same complete key.
"""
import os
import secrets

from .config import ConfigError

KEY_FILE = "secret.key"


def load(settings: dict) -> str:
    """The configured key, or the one in <DATA_DIR>/secret.key (created on first use)."""
    if settings["SECRET_KEY"]:
        return str(settings["SECRET_KEY"])
    path = os.path.join(settings["DATA_DIR"], KEY_FILE)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _unusable(path, exc) from exc
    try:
        os.makedirs(settings["DATA_DIR"], exist_ok=True)
        temporary = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another worker won; use its key
        finally:
            os.unlink(temporary)
        return _read(path)
    except OSError as exc:
        raise _unusable(path, exc) from exc


def _unusable(path, exc):
    return ConfigError("DATA_DIR", f"cannot keep the signing key in {path}: {exc.strerror}; "
                                   "fix the directory or set REGISTRY_SECRET_KEY")


def _read(path):
    with open(path) as f:
        key = f.read().strip()
    if len(key) < 32:
        raise ConfigError("DATA_DIR", f"{path} holds no valid key; delete it to make a new one")
    return key
