"""The domain's refusals, exactly: code, message and details, as every surface will render them.

Called directly (no HTTP), on SQLite, so these run in the mutation run too.
"""
import base64
import datetime

import pytest

from registry import ranges
from registry.domain import anchors
from registry.domain import audit
from registry.domain import auth
from registry.domain import lifecycle
from registry.domain import names
from registry.domain import refs
from registry.domain import run_data
from registry.domain import run_filter
from registry.domain import runs
from registry.domain import service
from registry.domain.errors import RegistryError
from registry.models import ApiToken
from registry.models import RegisteredModel
from registry.models import rfc3339
from registry.models import utcnow

OPERATOR = auth.Principal(name="operator", role="admin")
BAD_HEADER = "The Authorization header must be 'Bearer <token>' (or Basic with the token as the password) with a registry token."
STAGES = ["None", "Staging", "Production", "Archived"]


def refusal(call, *args, **kwargs):
    with pytest.raises(RegistryError) as caught:
        call(*args, **kwargs)
    error = caught.value
    return error.code, error.message, error.details


def test_unknown_stage():
    assert refusal(lifecycle.parse_stage, "Live") == (
        "validation_error", "Unknown stage 'Live'; use one of None, Staging, Production, Archived.", {"stage": STAGES})


@pytest.mark.parametrize("current,target,message,allowed", [
    ("None", "Production", "Cannot move a version from None to Production. "
                           "From None a version can move to Staging or Archived.", ["Staging", "Archived"]),
    ("Production", "Staging", "Cannot move a version from Production to Staging. "
                              "From Production a version can move to Archived.", ["Archived"]),
    ("Archived", "Staging", "Cannot move a version from Archived to Staging. "
                            "Archived is final; register a new version from models:/ to roll back.", []),
])
def test_refused_transition(current, target, message, allowed):
    assert refusal(lifecycle.check_transition, current, target) == ("invalid_transition", message, {
        "current_stage": current, "requested_stage": target, "allowed_stages": allowed})


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 129, 5, None])
def test_bad_model_names(name):
    message = ("Model names are 1-128 characters of letters, digits, '_', '.' and '-', "
               "starting with a letter or digit.")
    assert refusal(names.check_model_name, name) == ("validation_error", message, {"name": [message]})


@pytest.mark.parametrize("run_id", ["", "A" * 32, "a" * 31, 7])
def test_bad_run_ids(run_id):
    message = "Run ids are 32 lowercase hexadecimal characters."
    assert refusal(names.check_run_id, run_id) == ("validation_error", message, {"run_id": [message]})


@pytest.mark.parametrize("path,problem", [
    (5, "must be a string"),
    ("", "must not be empty"),
    ("x" * 1025, "must be at most 1024 characters"),
    ("a\\b", "must not contain a backslash"),
    ("a\x01b", "must not contain control characters"),
    ("a\x7fb", "must not contain control characters"),
    ("/abs", "must be relative (no leading '/')"),
    ("a//b", "must not contain empty, '.' or '..' segments"),
    ("a/./b", "must not contain empty, '.' or '..' segments"),
    ("a/../b", "must not contain empty, '.' or '..' segments"),
    ("a/", "must not contain empty, '.' or '..' segments"),
])
def test_bad_artifact_paths(path, problem):
    assert names.path_problem(path) == problem
    message = f"Artifact path {problem}."
    assert refusal(names.check_artifact_path, path) == ("validation_error", message, {"path": [message]})


def test_paths_that_are_fine():
    assert names.path_problem("x" * 1024) is None
    assert names.path_problem("") == "must not be empty"
    assert names.path_problem("", allow_empty=True) is None
    assert names.check_artifact_path("", allow_empty=True) == ""
    assert names.check_artifact_path("a/.b/..c/c..") == "a/.b/..c/c.."


def test_unsatisfiable_range_body():
    class Requested:
        units, ranges = "bytes", [(10, None)]

    class NoIfRange:
        etag = date = None

    assert refusal(ranges.span, 10, "d" * 64, Requested, NoIfRange) == (
        "range_not_satisfiable", "The file is 10 bytes long; the requested range starts past its end.", {"size": 10})
    whole = ranges.span(10, "d" * 64, None, NoIfRange)
    assert (whole.start, whole.stop, whole.length, whole.partial) == (0, 10, 10, False)


@pytest.fixture
def model(app, tmp_path):
    with app.app_context():
        service.create_model(OPERATOR, "M")
        yield RegisteredModel.get(RegisteredModel.name == "M")


def test_ref_refusals(model):
    assert refusal(refs.resolve_ref, model, "3") == ("not_found", "M has no version 3.", None)
    assert refusal(refs.resolve_ref, model, str(2**31)) == ("not_found", f"M has no version {2**31}.", None)
    assert refusal(refs.resolve_ref, model, "latest") == ("not_found", "M has no versions yet.", None)
    assert refusal(refs.resolve_ref, model, "PRODUCTION") == ("not_found", "M has no version in Production.", None)
    assert refusal(refs.resolve_ref, model, "v1") == (
        "validation_error",
        "'v1' is not a version reference; use a version number, 'latest', a stage "
        "(None, Staging, Production, Archived) or @alias.",
        {"ref": ["Invalid version reference."]})


def test_refs_resolve_within_their_own_model(app, model):
    with app.app_context():
        service.create_model(OPERATOR, "Other")
        from registry.models import ModelVersion

        other = RegisteredModel.get(RegisteredModel.name == "Other")
        ModelVersion.create(model=other.id, version=7, stage="Production", source="models:/x/1")
        assert refusal(refs.resolve_ref, model, "latest") == ("not_found", "M has no versions yet.", None)
        assert refusal(refs.resolve_ref, model, "7") == ("not_found", "M has no version 7.", None)
        assert refusal(refs.resolve_ref, model, "production") == ("not_found", "M has no version in Production.", None)


def test_history_refusals(model):
    assert refusal(audit.history, OPERATOR, "Nope") == ("not_found", "Model Nope does not exist and has no history.", None)
    assert refusal(audit.history, OPERATOR, "Nope", "1") == ("not_found", "Model Nope does not exist.", None)
    assert audit.history(OPERATOR, "M") == []


def test_past_ref_refusals(model):
    at = datetime.datetime(2026, 1, 2, 3, 4, 5, 6)
    assert refusal(audit.resolve_ref_at, model, "1", at) == (
        "not_found", "M had no version 1 at 2026-01-02T03:04:05.000006Z.", None)
    assert refusal(audit.resolve_ref_at, model, "latest", at) == (
        "not_found", "M had no versions at 2026-01-02T03:04:05.000006Z.", None)
    assert refusal(audit.resolve_ref_at, model, "staging", at) == (
        "not_found", "M had no version in Staging at 2026-01-02T03:04:05.000006Z.", None)


def test_role_and_scope_refusals():
    writer = auth.Principal(name="ci", role="writer", models=("nlp-*", "cv-?"))
    assert refusal(writer.require, "maintainer") == (
        "forbidden", "This needs the maintainer role; token 'ci' has the writer role.",
        {"required_role": "maintainer", "role": "writer"})
    assert refusal(writer.require, "reader", "Other") == (
        "forbidden", "Token 'ci' is limited to models nlp-*, cv-?; it has no access to Other.",
        {"models": ["nlp-*", "cv-?"]})
    writer.require("writer", "nlp-bert")
    writer.require("reader", "cv-a")
    assert auth.role_for_transition("None", "Archived") == "writer"
    assert auth.role_for_transition("Staging", "Archived") == "writer"
    assert auth.role_for_transition("Production", "Archived") == "maintainer"


def test_authentication_refusals(app):
    with app.app_context():
        _, value = auth.create_token(OPERATOR, "ci", "writer")
        _, selector, secret = value.split("_", 2)
        cases = [
            (None, "Send Authorization: Bearer <token>; see `registry token create`."),
            ("", "Send Authorization: Bearer <token>; see `registry token create`."),
            (f"Basic {value}", BAD_HEADER),  # Basic carries user:password, base64-encoded
            (f"Basic {base64.b64encode(b'user:rgt_short').decode()}", BAD_HEADER),
            ("Basic %%%", BAD_HEADER),
            (f"Token {value}", BAD_HEADER),
            ("Bearer rgt_short", BAD_HEADER),
            (f"Bearer rgt_{selector}_{'A' * 43}", "The token is not valid."),
            (f"Bearer rgt_{'0' * 16}_{secret}", "The token is not valid."),
        ]
        for header, message in cases:
            with pytest.raises(RegistryError) as caught:
                auth.authenticate(header)
            assert (caught.value.code, caught.value.message) == ("unauthorized", message), header
        assert auth.authenticate(f"bearer {value}").name == "ci"  # the scheme is case-insensitive
        basic = base64.b64encode(f"anyone:{value}".encode()).decode()
        assert auth.authenticate(f"Basic {basic}").name == "ci"  # MLflow's username/password: the token is the password
        assert auth.authenticate(f"Bearer  {value} ").name == "ci"  # and spaces around the token are not
        expiring, expiring_value = auth.create_token(OPERATOR, "brief", "reader", (), 1)
        ApiToken.update(expires_at=utcnow()).where(ApiToken.name == expiring.name).execute()
        assert refusal(auth.authenticate, f"Bearer {expiring_value}") == ("unauthorized", "The token has expired.", None)
        auth.revoke_token(OPERATOR, "ci")
        assert refusal(auth.authenticate, f"Bearer {value}") == ("unauthorized", "The token has been revoked.", None)


def test_token_request_refusals(app):
    with app.app_context():
        assert refusal(auth.create_token, OPERATOR, "bad name", "boss", ["a b"], 0) == (
            "validation_error", "The token request is not valid.", {
                "name": ["Token names are 1-128 letters, digits, '_', '.' and '-'."],
                "role": ["Must be one of reader, writer, maintainer, admin, metrics."],
                "models": ["Patterns are model-name characters plus * ? [ ] !"],
                "expires_in_days": ["Must be between 1 and 3650."]})
        assert auth.create_token(OPERATOR, "x" * 128, "reader", (), 3650)[0].name == "x" * 128
        assert auth.create_token(OPERATOR, "one-day", "reader", (), 1)[0].expires_at is not None
        limited = auth.Principal(name="nlp-admin", role="admin", models=("nlp-*",))
        assert refusal(auth.create_token, limited, "wide", "reader") == (
            "forbidden", "Token 'nlp-admin' is limited to models nlp-*; the new token must be limited to those "
                         "patterns, or to model names they match.", {"models": ["nlp-*"]})
        maintainer = auth.Principal(name="boss", role="maintainer")
        assert refusal(auth.create_token, maintainer, "x", "reader") == (
            "forbidden", "This needs the admin role; token 'boss' has the maintainer role.",
            {"required_role": "admin", "role": "maintainer"})
        lesser_admin = auth.Principal(name="a", role="admin")
        auth.create_token(lesser_admin, "peer", "admin")
        assert refusal(auth.revoke_token, limited, "peer") == (
            "forbidden", "Token 'nlp-admin' cannot revoke a token with a wider reach.", None)
        assert refusal(auth.revoke_token, OPERATOR, "nobody") == ("not_found", "No active token is named 'nobody'.", None)
        _, mine = auth.create_token(OPERATOR, "me", "admin")
        myself = auth.authenticate(f"Bearer {mine}")
        assert refusal(auth.revoke_token, myself, "me") == (
            "forbidden", "A token cannot revoke itself; use another admin token or the CLI.", None)
        auth.create_token(OPERATOR, "gone", "writer")
        auth.revoke_token(myself, "gone")
        [record] = [r for r in audit.search(action="token_revoke")[0] if r.subject == "gone"]
        assert (record.actor, record.comment) == ("me", "role writer")
        assert refusal(auth.create_token, OPERATOR, "peer", "reader") == (
            "already_exists", "An active token named 'peer' exists; revoke it or pick another name.", None)


def test_the_whole_audit_log_needs_an_unscoped_reader(model):
    scoped = auth.Principal(name="nlp-admin", role="admin", models=("M",))
    message = "The audit log needs a token that is not limited to some models."
    assert refusal(audit.read_log, scoped) == ("forbidden", message, None)
    assert refusal(audit.verify_log, scoped) == ("forbidden", message, None)
    reader = auth.Principal(name="auditor", role="reader")
    records, after = audit.read_log(reader, action="token_create", limit=10)
    assert after is None and all(r.action == "token_create" for r in records)
    assert audit.verify_log(reader)["ok"] is True
    beyond = audit.verify_log(reader, anchors.Anchor(record_id=999, hash="f" * 64))
    assert beyond["ok"] is False and "record 999 was anchored" in beyond["first_bad"]["reason"]


def test_domain_errors_carry_no_http_and_every_surface_renders_every_code():
    from registry.api.errors import STATUS
    from registry.domain.errors import CODES
    from registry.mlflow.errors import CODES as MLFLOW

    assert set(MLFLOW) == set(CODES)
    # MLflow's client retries 408, 429, 500, 502, 503 and 504 for minutes: only outages get one of those,
    # and only outages and a full store are 5xx at all.
    retried = {code for code, (_, status) in MLFLOW.items() if status in (408, 429, 500, 502, 503, 504)}
    assert retried == {"storage_unavailable", "database_unavailable"}
    assert {code for code, (_, status) in MLFLOW.items() if status >= 500} == retried | {"storage_full"}
    assert MLFLOW["storage_full"] == ("RESOURCE_EXHAUSTED", 507)

    error = RegistryError("not_found", "Model M does not exist.")
    assert not hasattr(error, "status") and not hasattr(error, "headers")
    assert set(CODES) <= set(STATUS)
    with pytest.raises(ValueError):
        RegistryError("teapot", "no such code")


# Use cases: public functions of these modules that act for a caller. Helpers
# for other use cases (rules, parsers, row lookups) are listed as exempt.
_USE_CASE_MODULES = ("service", "runs", "auth", "audit", "anchors", "experiments", "run_data", "run_search",
                     "aliases", "model_edits", "logged_models", "timeline", "webhooks", "gc", "stats")
_NOT_USE_CASES = {
    "auth": {"authenticate", "verify_token", "session_principal", "bootstrap_admin", "role_for_transition"},
    "audit": {"append", "lock_head", "record_hash", "first_free_version", "verify", "search", "resolve_ref_at"},
    "anchors": {"latest"},
    "runs": {"run_row", "load_runs"},
    "service": {"version_file", "lock_model", "load_model", "version_values"},
    "model_edits": set(),
    "logged_models": {"logged_model_row", "has_files"},
    "experiments": {"experiment_row", "check_experiment_name"},
    "run_data": {"check_tags"},
    "run_search": set(),
    "aliases": set(),
    "timeline": set(),
    "webhooks": set(),
    "gc": set(),
    "stats": {"require_scraper"},
}


def test_every_use_case_takes_the_principal_first():
    import importlib
    import inspect

    missing = []
    for name in _USE_CASE_MODULES:
        module = importlib.import_module(f"registry.domain.{name}")
        for fname, function in inspect.getmembers(module, inspect.isfunction):
            if (function.__module__ != module.__name__ or fname.startswith(("_", "x_"))
                    or fname in _NOT_USE_CASES[name]):
                continue
            # Under mutmut the function is a trampoline; its original keeps the signature.
            original = getattr(module, f"x_{fname}__mutmut_orig", function)
            first = next(iter(inspect.signature(original).parameters.values()))
            if first.name != "principal" or first.default is not inspect.Parameter.empty:
                missing.append(f"{name}.{fname}")
    assert missing == []


def test_reads_refuse_a_principal_without_access(model):
    scoped = auth.Principal(name="nlp", role="admin", models=("nlp-*",))
    message = "Token 'nlp' is limited to models nlp-*; it has no access to M."
    for call, args in ((service.get_model, ("M",)), (service.get_version, ("M", "latest")),
                       (service.list_versions, ("M",)), (audit.history, ("M",))):
        assert refusal(call, scoped, *args) == ("forbidden", message, {"models": ["nlp-*"]}), call.__name__


# --- run search syntax ------------------------------------------------------

def _bad_filter(position, token, reason):
    return ("validation_error", f"Bad filter at position {position} ({token!r}): {reason}",
            {"filter": [reason], "token": token, "position": position})


@pytest.mark.parametrize("text,position,token,reason", [
    ("metrics.a >", 10, ">", "expected <key> <operator> <value>; the filter ends early"),
    ("accuracy > 1", 0, "accuracy", "expected metrics.<key>, params.<key>, tags.<key> or attributes.<name>"),
    ("foo.a = 1", 0, "foo.a", "the key must start with metrics., params., tags. or attributes."),
    ("metrics.a b 1", 10, "b", "expected an operator: = != < <= > >= LIKE ILIKE"),
    ("attributes.colour = 'x'", 0, "attributes.colour",
     "unknown attribute; use one of status, run_name, run_id, user_id, start_time, end_time"),
    ("metrics.a LIKE 1", 10, "LIKE", "metrics.a compares as a number: use = != < <= > >="),
    ("metrics.a = 'x'", 12, "'x'", "metrics.a compares with a number"),
    ("attributes.start_time = 'x'", 24, "'x'", "attributes.start_time compares with a number"),
    ("params.a < 'x'", 9, "<", "params.a compares as a string: use = != LIKE ILIKE"),
    ("params.a = 1", 11, "1", "params.a compares with a quoted string"),
    ("metrics.a = 1 OR metrics.b = 2", 14, "OR", "expected AND between comparisons (OR is not supported)"),
    ("metrics.a = 1 ; x", 14, "; x", "this is not a key, an operator, a number or a quoted string"),
    ("metrics.a = 1 AND $" + "x" * 30, 18, "$" + "x" * 19, "this is not a key, an operator, a number or a quoted string"),
])
def test_filter_refusals(text, position, token, reason):
    assert refusal(run_filter.parse, text) == _bad_filter(position, token, reason)


def test_filters_parse_into_comparisons():
    C = run_filter.Comparison
    assert run_filter.parse(None) == run_filter.parse("  ") == []
    assert run_filter.parse("metrics.Xval > 1 and params.`p q` ILIKE 'a%' AND attr.end_time <= 5 "
                            "AND tags.\"x.y\" like 'b' AND run.status != \"FAILED\"") == [
        C("metrics", "Xval", ">", 1.0), C("params", "p q", "ILIKE", "a%"), C("attributes", "end_time", "<=", 5.0),
        C("tags", "x.y", "LIKE", "b"), C("attributes", "status", "!=", "FAILED")]
    assert run_filter.parse("metric.m=-1.5e-3")[0] == C("metrics", "m", "=", -0.0015)


@pytest.mark.parametrize("clause,order", [
    ("metrics.a DESC", ("metrics", "a", True)), ("metrics.`a b` desc", ("metrics", "a b", True)),
    ('tags."x y"', ("tags", "x y", False)), ("attr.start_time asc", ("attributes", "start_time", False)),
    ("run.status", ("attributes", "status", False)), ("param.Xlr", ("params", "Xlr", False)),
])
def test_order_by_clauses(clause, order):
    assert run_filter.parse_order(clause) == run_filter.Order(*order)


@pytest.mark.parametrize("clause", ["A.0", "attributes.colour", "metrics.a DOWN", "", "metrics."])
def test_order_by_refusals(clause):
    assert refusal(run_filter.parse_order, clause) == (
        "validation_error", f"Bad order_by {clause!r}: use <metrics|params|tags>.<key> or attributes.<status|run_name|"
                            "run_id|user_id|start_time|end_time>, then ASC or DESC.", {"order_by": [clause]})


# --- what a run records -------------------------------------------------------

def _point(key="m", value=1.0, step=0, timestamp=0):
    return run_data.MetricPoint(key, value, step, timestamp)


@pytest.mark.parametrize("batch,field,message", [
    (run_data.Batch(metrics=tuple(_point(step=i) for i in range(1001))), "metrics",
     "A batch holds at most 1000 metrics; this one has 1001."),
    (run_data.Batch(params=tuple((f"p{i}", "v") for i in range(101))), "params",
     "A batch holds at most 100 params; this one has 101."),
    (run_data.Batch(tags=tuple((f"t{i}", "v") for i in range(101))), "tags",
     "A batch holds at most 100 tags; this one has 101."),
    (run_data.Batch(metrics=tuple(_point(step=i) for i in range(1000)), params=(("p", "v"),)), "batch",
     "A batch holds at most 1000 metrics, params and tags in all; this one has 1001."),
    (run_data.Batch(params=(("p", "v" * 6001),)), "params", "The value of 'p' is 6001 characters; the limit is 6000."),
    (run_data.Batch(tags=(("t", "v" * 8001),)), "tags", "The value of 't' is 8001 characters; the limit is 8000."),
    (run_data.Batch(params=(("a", "1"), ("a", "2"))), "params", "Param 'a' appears twice in the batch with different values."),
    (run_data.Batch(metrics=(_point(key="k" * 251),)), "metrics", None),
    (run_data.Batch(tags=(("a/../b", "v"),)), "tags", None),
    (run_data.Batch(params=((".", "v"),)), "params", None),
])
def test_batch_refusals(model, batch, field, message):
    run_id = runs.create_run(OPERATOR).run_id
    code, text, details = refusal(run_data.log_batch, OPERATOR, run_id, batch)
    if message is None:
        key = (batch.metrics[0].key if batch.metrics else (batch.params or batch.tags)[0][0])
        message = (f"Key {key!r} is not valid: use 1-250 ASCII letters, digits, '_', '-', '.', ' ' and '/'; "
                   "no segment may be empty or '.', or start with '..'.")
    assert (code, text, details) == ("validation_error", message, {field: [message]})
    assert runs.get_run(OPERATOR, run_id).params == {}


def test_batch_edges_and_the_latest_point(model):
    run_id = runs.create_run(OPERATOR).run_id
    run_data.log_batch(OPERATOR, run_id, run_data.Batch(
        metrics=tuple(_point(step=i) for i in range(899)), params=tuple((f"p{i}", "v" * 6000) for i in range(50)),
        tags=tuple((f"t{i}", "v" * 8000) for i in range(50)) + (("mlflow.runName", "renamed"),)))
    assert runs.get_run(OPERATOR, run_id).name == "renamed"
    points = [_point("acc", 0.5, 3, 10), _point("acc", float("nan"), 3, 10), _point("acc", 0.4, 3, 10),
              _point("acc", 0.9, 2, 99), _point("acc", 0.1, 3, 9), _point("k" * 250, 1.0)]
    run_data.log_batch(OPERATOR, run_id, run_data.Batch(metrics=tuple(points)))
    latest = runs.get_run(OPERATOR, run_id).metrics["acc"]
    assert (latest.value, latest.step, latest.timestamp) == (0.5, 3, 10)  # step, then time, then value (NaN lowest)
    run_data.log_batch(OPERATOR, run_id, run_data.Batch(metrics=(_point("acc", float("-inf"), 4, 0),)))
    assert runs.get_run(OPERATOR, run_id).metrics["acc"].value == float("-inf")
    assert refusal(run_data.metric_history, OPERATOR, run_id, "nope") == (
        "not_found", f"Run {run_id} has no metric 'nope'.", None)
    assert refusal(run_data.metric_history, OPERATOR, run_id, "../x")[0] == "validation_error"
    history = run_data.metric_history(OPERATOR, run_id, "acc")
    assert [(p.step, p.timestamp) for p in history][:3] == [(2, 99), (3, 9), (3, 10)]


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V12", "1abc", "a" * 65, "", "a b", "-a"])
def test_alias_refusals(alias):
    message = ("Aliases are 1-64 letters, digits, '_' and '-', starting with a letter; "
               "'latest' and 'v<number>' are reserved.")
    assert refusal(names.check_alias, alias) == ("validation_error", message, {"alias": [message]})


@pytest.mark.parametrize("alias", ["champion", "a", "a" * 64, "v1a", "vX", "latest-2", "Prod_B"])
def test_aliases_that_are_fine(alias):
    assert names.check_alias(alias) == alias


def test_basic_credentials_carry_the_token_as_the_password(app):
    with app.app_context():
        _, value = auth.create_token(OPERATOR, "basic", "reader")
        for bad in ("%%%", base64.b64encode(b"\xff\xfe:" + value.encode()).decode(),
                    base64.b64encode(value.encode()).decode(), base64.b64encode(f"u:{value}x".encode()).decode()):
            assert refusal(auth.authenticate, f"Basic {bad}") == ("unauthorized", BAD_HEADER, None), bad
        assert auth.authenticate("Basic " + base64.b64encode(f"u:{value}".encode()).decode()).name == "basic"
        assert auth.authenticate("basic " + base64.b64encode(f":{value}".encode()).decode()).name == "basic"


def test_alias_moves_and_their_records(app, model):
    import io

    from registry.domain import aliases

    run_id = runs.create_run(OPERATOR).run_id
    runs.upload_artifact(OPERATOR, app.extensions["registry_storage"], run_id, "w", io.BytesIO(b"w"), None)
    for _ in range(2):
        service.register_version(OPERATOR, "M", f"runs:/{run_id}")
    first = aliases.set_alias(OPERATOR, "M", "champion", "1", comment="best")
    moved = aliases.set_alias(OPERATOR, "M", "champion", "2")
    gone = aliases.delete_alias(OPERATOR, "M", "champion", comment="rollback")
    assert [(m.version, m.previous_version) for m in (first, moved, gone)] == [(1, None), (2, 1), (None, 2)]
    records = [r for r in audit.history(OPERATOR, "M") if r.action.startswith("alias")]
    assert [(r.id, r.subject, r.version, r.cause, r.comment, r.actor) for r in records] == [
        (first.record_id, "champion", 1, None, "best", "operator"),
        (moved.record_id, "champion", 2, "previously version 1", "", "operator"),
        (gone.record_id, "champion", 2, "previously version 2", "rollback", "operator")]
    assert refusal(aliases.delete_alias, OPERATOR, "M", "champion") == ("not_found", "M has no alias champion.", None)
    writer = auth.Principal(name="ci", role="reader")
    assert refusal(aliases.set_alias, writer, "M", "x", "1")[0] == "forbidden"
    row = RegisteredModel.get(RegisteredModel.name == "M")
    at = utcnow()
    assert refusal(audit.resolve_ref_at, row, "@champion", at) == (
        "not_found", f"M had no alias champion at {rfc3339(at)}.", None)
    assert audit.resolve_ref_at(row, "@champion", records[0].created_at).version == 1
    assert audit.resolve_ref_at(row, "@champion", records[1].created_at).version == 2


def test_a_version_looked_up_by_model_name_is_found_or_refused_as_by_model(app, model):
    # get_version finds the model and its version in one query; what it finds, and how it
    # refuses, must be what the two steps (the model, then resolve_ref) would give.
    import io

    from registry.domain import aliases

    with app.app_context():
        run_id = runs.create_run(OPERATOR).run_id
        runs.upload_artifact(OPERATOR, app.extensions["registry_storage"], run_id, "w", io.BytesIO(b"w"), None)
        for name in ("Other", "M", "M"):
            service.register_version(OPERATOR, name, f"runs:/{run_id}")
        for stage in ("Staging", "Production"):
            service.transition(OPERATOR, "Other", "1", stage)
        aliases.set_alias(OPERATOR, "Other", "shadow", "1")
        service.transition(OPERATOR, "M", "1", "Staging")
        aliases.set_alias(OPERATOR, "M", "champion", "2")
        found = {ref: (v.name, v.version) for ref in ("1", "2", "latest", "staging", "@champion")
                 for v in [service.get_version(OPERATOR, "M", ref)]}
        assert found == {"1": ("M", 1), "2": ("M", 2), "latest": ("M", 2), "staging": ("M", 1), "@champion": ("M", 2)}
        for ref in ("3", str(2**31), "production", "@shadow", "v1", "@"):
            assert refusal(service.get_version, OPERATOR, "M", ref) == refusal(refs.resolve_ref, model, ref), ref
        for ref in ("1", "latest", "production", "@champion", "v1"):
            assert refusal(service.get_version, OPERATOR, "Nope", ref) == (
                "not_found", "Model Nope does not exist.", None), ref
