"""Prometheus metrics: per-request counters fed by request_log, and what the database holds, read at scrape time.

Under `registry serve`, prometheus_client runs in multiprocess mode: each
gunicorn worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR
(a fresh directory per server, removed at exit), and a scrape adds up every
worker's. An app built in-process (tests) keeps its counters in its own
registry. Counts of models, versions and stage moves are queries, not
counters, so every instance reports the same numbers.
"""
import os

import peewee
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily
from prometheus_client.core import GaugeMetricFamily

from . import chain_check
from . import request_log
from .domain import stats
from .domain.auth import Principal
from .domain.errors import RegistryError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The text format every Prometheus reads (what generate_latest writes for these names).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Error codes that mean a dependency failed, not the request.
DEPENDENCY_ERRORS = ("database_unavailable", "storage_unavailable", "storage_full")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class RequestMetrics:
    """The per-request series; ``observe`` is a request_log listener."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("registry_http_requests", "Requests answered, by route template, method and status.",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("registry_http_request_duration_seconds",
                                 "Seconds from the request to its last response byte.", ["route", "method"],
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.received = Counter("registry_http_received_bytes", "Request body bytes read (uploads).", ["route"],
                                registry=self.registry)
        self.sent = Counter("registry_http_sent_bytes", "Response body bytes sent (downloads).", ["route"],
                            registry=self.registry)
        self.dependency_errors = Counter("registry_dependency_errors",
                                         "Requests failed because a dependency did, by error code.", ["code"],
                                         registry=self.registry)

    def observe(self, summary) -> None:
        self.requests.labels(summary.route, summary.method, str(summary.status)).inc()
        self.latency.labels(summary.route, summary.method).observe(summary.latency_seconds)
        if summary.bytes_in:
            self.received.labels(summary.route).inc(summary.bytes_in)
        if summary.bytes_out:
            self.sent.labels(summary.route).inc(summary.bytes_out)
        if summary.error in DEPENDENCY_ERRORS:
            self.dependency_errors.labels(summary.error).inc()


class _Holdings:
    """What the database holds, and the audit chain's state, at scrape time."""

    def __init__(self, app, principal):
        self.app = app
        self.principal = principal

    def collect(self):
        # A scrape must answer while a dependency is down (that is when it is read): a part that
        # cannot be read is left out and named in registry_scrape_errors.
        failed = GaugeMetricFamily("registry_scrape_errors", "1 for each part of this scrape that could not be "
                                   "read, by part and error code.", labels=["part", "code"])
        for part, collect in (("holdings", self._holdings), ("audit_chain", self._audit_chain)):
            try:
                yield from list(collect())
            except RegistryError as exc:
                failed.add_metric([part, exc.code], 1)
            except (peewee.OperationalError, peewee.InterfaceError):
                failed.add_metric([part, "database_unavailable"], 1)
        yield failed

    def _holdings(self):
        counts = stats.registry_stats(self.principal)
        yield GaugeMetricFamily("registry_models", "Registered models.", value=counts.models)
        versions = GaugeMetricFamily("registry_model_versions", "Model versions by stage.", labels=["stage"])
        for stage, count in counts.versions_by_stage.items():
            versions.add_metric([stage], count)
        yield versions
        moves = CounterMetricFamily("registry_transitions", "Stage moves in the audit log, by from and to stage.",
                                    labels=["from_stage", "to_stage"])
        for (source, target), count in sorted(counts.transitions.items(), key=str):
            moves.add_metric([source or "", target or ""], count)
        yield moves

    def _audit_chain(self):
        report, walked_ago = chain_check.verification(self.app, self.principal)
        yield GaugeMetricFamily("registry_audit_chain_ok", "1 if the audit hash chain verified, else 0.",
                                value=1 if report["ok"] else 0)
        yield GaugeMetricFamily("registry_audit_chain_records", "Audit records verified.", value=report["records"])
        yield GaugeMetricFamily("registry_audit_chain_full_walk_age_seconds",
                                "Seconds since the whole chain was last walked (newer records are checked "
                                "at every scrape).", value=walked_ago)


def render(app, principal: Principal) -> bytes:
    """The exposition text for one scrape; raises forbidden unless ``principal`` may scrape."""
    stats.require_scraper(principal)
    holdings = CollectorRegistry()
    holdings.register(_Holdings(app, principal))
    if multiprocess_mode():
        requests = CollectorRegistry()
        multiprocess.MultiProcessCollector(requests)
    else:
        requests = app.extensions["registry_metrics"].registry
    return generate_latest(requests) + generate_latest(holdings)


def init_app(app) -> None:
    metrics = RequestMetrics()
    app.extensions["registry_metrics"] = metrics
    request_log.listeners(app).append(metrics.observe)


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit: a dead worker's live gauges are dropped (its counters stay counted)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid)
