"""``Client``: one typed method per native endpoint, over one retrying, streaming HTTP session.

Every POST carries an ``Idempotency-Key`` (the same on each retry), so a retry
after a lost answer never acts twice. Only "unavailable" is retried (no
connection, a timeout, 408/429/5xx), with backoff; everything else is raised
at once as the exception for what the caller can do about it (errors.py).
"""
import os
import random
import time
import uuid
from typing import Any
from urllib.parse import quote

import requests

from .errors import RegistryClientError
from .errors import Unavailable
from .errors import for_status

ENDPOINTS: dict = {}  # (METHOD, path template) -> Client method name, for the drift test


def endpoint(method: str, path: str):
    def mark(function):
        ENDPOINTS[(method, path)] = function.__name__
        return function
    return mark


def _q(value) -> str:
    return quote(str(value), safe="")


def _path(value: str) -> str:
    return quote(value, safe="/")


class Client:
    """A registry at ``url`` with ``token`` (default: REGISTRY_URL and REGISTRY_TOKEN)."""

    def __init__(self, url: str | None = None, token: str | None = None, retries: int = 5, timeout: float = 60.0):
        self.url = (url or os.environ.get("REGISTRY_URL") or "http://127.0.0.1:5000").rstrip("/")
        token = token or os.environ.get("REGISTRY_TOKEN")
        self.retries, self.timeout = retries, timeout
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "registry-client/1"
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    # --- transport ---------------------------------------------------------------------------

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                data: Any = None, headers: dict | None = None, stream: bool = False,
                rewind=None) -> requests.Response:
        """Send, retrying while the service is unavailable; raise the error for any other refusal.

        ``rewind()`` makes ``data`` readable from the start again before a retry (a file being uploaded).
        """
        headers = dict(headers or {})
        if method == "POST":
            headers.setdefault("Idempotency-Key", uuid.uuid4().hex)
        for attempt in range(self.retries + 1):
            if attempt and rewind is not None:
                rewind()
            try:
                response = self.http.request(method, self.url + path, json=json, params=params, data=data,
                                             headers=headers, stream=stream, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                error: RegistryClientError = Unavailable("unreachable", f"{self.url}: {exc}")
            else:
                if response.status_code < 400:
                    return response
                error = self._error(response)
                if not isinstance(error, Unavailable):
                    raise error
            if attempt == self.retries:
                raise error
            time.sleep(min(8.0, 0.25 * 2 ** attempt) * random.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    @staticmethod
    def _error(response):
        try:
            body = response.json()["error"]
            code, message, details = body["code"], body["message"], body.get("details")
        except (ValueError, KeyError, TypeError):
            code, message, details = f"http_{response.status_code}", response.text[:200] or response.reason, None
        return for_status(response.status_code)(code, message, response.status_code, details)

    def _json(self, method, path, **kwargs):
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    # --- probes ------------------------------------------------------------------------------

    @endpoint("GET", "/healthz")
    def health(self) -> dict:
        return self._json("GET", "/healthz")

    @endpoint("GET", "/readyz")
    def ready(self) -> dict:
        return self._json("GET", "/readyz")

    # --- experiments and runs ----------------------------------------------------------------

    @endpoint("GET", "/experiments")
    def list_experiments(self, limit: int | None = None, page_token: str | None = None) -> dict:
        return self._json("GET", "/experiments", params={"limit": limit, "page_token": page_token})

    @endpoint("POST", "/experiments")
    def create_experiment(self, name: str, tags: dict | None = None) -> dict:
        return self._json("POST", "/experiments", json={"name": name, "tags": tags or {}})

    @endpoint("GET", "/experiments/{experiment_name}")
    def get_experiment(self, name: str) -> dict:
        return self._json("GET", f"/experiments/{_q(name)}")

    @endpoint("GET", "/runs")
    def search_runs(self, experiment: str | None = None, filter: str | None = None,
                    order_by: list[str] | None = None, limit: int | None = None,
                    page_token: str | None = None) -> dict:
        return self._json("GET", "/runs", params={"experiment": experiment, "filter": filter, "order_by": order_by,
                                                   "limit": limit, "page_token": page_token})

    @endpoint("POST", "/runs")
    def create_run(self, name: str | None = None, experiment: str | None = None, tags: dict | None = None) -> dict:
        body = {k: v for k, v in {"name": name, "experiment": experiment, "tags": tags}.items() if v is not None}
        return self._json("POST", "/runs", json=body)

    @endpoint("GET", "/runs/{run_id}")
    def get_run(self, run_id: str) -> dict:
        return self._json("GET", f"/runs/{_q(run_id)}")

    @endpoint("PATCH", "/runs/{run_id}")
    def update_run(self, run_id: str, **fields) -> dict:
        return self._json("PATCH", f"/runs/{_q(run_id)}", json=fields)

    @endpoint("POST", "/runs/{run_id}/log")
    def log(self, run_id: str, params: dict | None = None, metrics: list[dict] | None = None,
            tags: dict | None = None) -> dict:
        return self._json("POST", f"/runs/{_q(run_id)}/log", json={
            "params": [{"key": k, "value": v} for k, v in (params or {}).items()], "metrics": metrics or [],
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]})

    @endpoint("GET", "/runs/{run_id}/metrics/{key}")
    def metric_history(self, run_id: str, key: str) -> dict:
        return self._json("GET", f"/runs/{_q(run_id)}/metrics/{_path(key)}")

    @endpoint("GET", "/runs/{run_id}/artifacts")
    def run_files(self, run_id: str) -> dict:
        return self._json("GET", f"/runs/{_q(run_id)}/artifacts")

    @endpoint("PUT", "/runs/{run_id}/artifacts/{path}")
    def upload(self, run_id: str, path: str, file, size: int) -> dict:
        """Stream an open binary ``file`` of ``size`` bytes as ``path`` of the run (never read whole)."""
        start = file.tell()
        return self._json("PUT", f"/runs/{_q(run_id)}/artifacts/{_path(path)}", data=file,
                          headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
                          rewind=lambda: file.seek(start))

    # --- models and versions -----------------------------------------------------------------

    @endpoint("GET", "/models")
    def list_models(self, q: str | None = None, limit: int | None = None, page_token: str | None = None) -> dict:
        return self._json("GET", "/models", params={"q": q, "limit": limit, "page_token": page_token})

    @endpoint("POST", "/models")
    def create_model(self, name: str, description: str = "", tags: dict | None = None) -> dict:
        return self._json("POST", "/models", json={"name": name, "description": description, "tags": tags or {}})

    @endpoint("GET", "/models/{name}")
    def get_model(self, name: str) -> dict:
        return self._json("GET", f"/models/{_q(name)}")

    @endpoint("PATCH", "/models/{name}")
    def update_model(self, name: str, **fields) -> dict:
        return self._json("PATCH", f"/models/{_q(name)}", json=fields)

    @endpoint("DELETE", "/models/{name}")
    def delete_model(self, name: str) -> None:
        self.request("DELETE", f"/models/{_q(name)}")

    @endpoint("GET", "/models/{name}/versions")
    def list_versions(self, name: str, stage: str | None = None) -> dict:
        return self._json("GET", f"/models/{_q(name)}/versions", params={"stage": stage})

    @endpoint("POST", "/models/{name}/versions")
    def register(self, name: str, source: str, description: str = "", tags: dict | None = None) -> dict:
        return self._json("POST", f"/models/{_q(name)}/versions",
                          json={"source": source, "description": description, "tags": tags or {}})

    @endpoint("GET", "/models/{name}/versions/{ref}")
    def get_version(self, name: str, ref: str | int, at: str | None = None) -> dict:
        return self._json("GET", f"/models/{_q(name)}/versions/{_q(ref)}", params={"at": at})

    @endpoint("PATCH", "/models/{name}/versions/{ref}")
    def update_version(self, name: str, ref: str | int, **fields) -> dict:
        return self._json("PATCH", f"/models/{_q(name)}/versions/{_q(ref)}", json=fields)

    @endpoint("POST", "/models/{name}/versions/{ref}/transitions")
    def transition(self, name: str, ref: str | int, stage: str, comment: str = "") -> dict:
        return self._json("POST", f"/models/{_q(name)}/versions/{_q(ref)}/transitions",
                          json={"stage": stage, "comment": comment})

    @endpoint("GET", "/models/{name}/versions/{ref}/history")
    def version_history(self, name: str, ref: str | int) -> dict:
        return self._json("GET", f"/models/{_q(name)}/versions/{_q(ref)}/history")

    @endpoint("GET", "/models/{name}/history")
    def model_history(self, name: str) -> dict:
        return self._json("GET", f"/models/{_q(name)}/history")

    @endpoint("PUT", "/models/{name}/aliases/{alias}")
    def set_alias(self, name: str, alias: str, version: int, comment: str = "") -> dict:
        return self._json("PUT", f"/models/{_q(name)}/aliases/{_q(alias)}", json={"version": version, "comment": comment})

    @endpoint("DELETE", "/models/{name}/aliases/{alias}")
    def delete_alias(self, name: str, alias: str) -> None:
        self.request("DELETE", f"/models/{_q(name)}/aliases/{_q(alias)}")

    @endpoint("GET", "/models/{name}/versions/{ref}/files")
    def version_files(self, name: str, ref: str | int) -> dict:
        return self._json("GET", f"/models/{_q(name)}/versions/{_q(ref)}/files")

    @endpoint("GET", "/models/{name}/versions/{ref}/files/{path}")
    def open_file(self, name: str, ref: str | int, path: str, offset: int = 0) -> requests.Response:
        """The file's streamed response (from ``offset``: 206); read it with iter_content, then close it."""
        headers = {"Range": f"bytes={offset}-"} if offset else None
        return self.request("GET", f"/models/{_q(name)}/versions/{_q(ref)}/files/{_path(path)}", headers=headers,
                            stream=True)

    @endpoint("GET", "/models/{name}/versions/{ref}/archive")
    def open_archive(self, name: str, ref: str | int) -> requests.Response:
        return self.request("GET", f"/models/{_q(name)}/versions/{_q(ref)}/archive", stream=True)

    # --- tokens, webhooks, audit -------------------------------------------------------------

    @endpoint("GET", "/tokens")
    def list_tokens(self) -> dict:
        return self._json("GET", "/tokens")

    @endpoint("POST", "/tokens")
    def create_token(self, name: str, role: str, models: list[str] | None = None,
                     expires_in_days: int | None = None) -> dict:
        return self._json("POST", "/tokens", json={"name": name, "role": role, "models": models or [],
                                                    "expires_in_days": expires_in_days})

    @endpoint("DELETE", "/tokens/{token_name}")
    def revoke_token(self, name: str) -> None:
        self.request("DELETE", f"/tokens/{_q(name)}")

    @endpoint("GET", "/webhooks")
    def list_webhooks(self) -> dict:
        return self._json("GET", "/webhooks")

    @endpoint("POST", "/webhooks")
    def create_webhook(self, url: str, events: list[str], models: list[str] | None = None,
                       secret: str | None = None, description: str = "") -> dict:
        body = {"url": url, "events": events, "models": models or [], "description": description}
        if secret:
            body["secret"] = secret
        return self._json("POST", "/webhooks", json=body)

    @endpoint("GET", "/webhooks/{webhook_id}")
    def get_webhook(self, webhook_id: int) -> dict:
        return self._json("GET", f"/webhooks/{int(webhook_id)}")

    @endpoint("PATCH", "/webhooks/{webhook_id}")
    def update_webhook(self, webhook_id: int, **fields) -> dict:
        return self._json("PATCH", f"/webhooks/{int(webhook_id)}", json=fields)

    @endpoint("DELETE", "/webhooks/{webhook_id}")
    def delete_webhook(self, webhook_id: int) -> None:
        self.request("DELETE", f"/webhooks/{int(webhook_id)}")

    @endpoint("POST", "/webhooks/{webhook_id}/test")
    def test_webhook(self, webhook_id: int) -> dict:
        return self._json("POST", f"/webhooks/{int(webhook_id)}/test")

    @endpoint("GET", "/webhooks/{webhook_id}/deliveries")
    def deliveries(self, webhook_id: int, status: str | None = None, limit: int | None = None,
                   before: int | None = None) -> dict:
        return self._json("GET", f"/webhooks/{int(webhook_id)}/deliveries",
                          params={"status": status, "limit": limit, "before": before})

    @endpoint("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
    def redeliver(self, webhook_id: int, delivery_id: int) -> dict:
        return self._json("POST", f"/webhooks/{int(webhook_id)}/deliveries/{int(delivery_id)}/redeliver")

    @endpoint("GET", "/audit")
    def audit(self, **filters) -> dict:
        return self._json("GET", "/audit", params=filters)

    @endpoint("GET", "/audit/verify")
    def verify_audit(self) -> dict:
        return self._json("GET", "/audit/verify")

    # --- operations ---------------------------------------------------------------------------

    @endpoint("GET", "/metrics")
    def metrics(self) -> str:
        """The Prometheus exposition text (a metrics token, or an admin for every model)."""
        return self.request("GET", "/metrics").text

    @endpoint("POST", "/gc")
    def collect_garbage(self, dry_run: bool = False, grace_seconds: int | None = None) -> dict:
        body: dict = {"dry_run": dry_run}
        if grace_seconds is not None:
            body["grace_seconds"] = grace_seconds
        return self._json("POST", "/gc", json=body)
