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
from registry.domain import service
from registry.domain.errors import RegistryError
from registry.models import ApiToken
from registry.models import RegisteredModel
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
                "role": ["Must be one of reader, writer, maintainer, admin."],
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

    error = RegistryError("not_found", "Model M does not exist.")
    assert not hasattr(error, "status") and not hasattr(error, "headers")
    assert set(CODES) <= set(STATUS)
    with pytest.raises(ValueError):
        RegistryError("teapot", "no such code")


# Use cases: public functions of these modules that act for a caller. Helpers
# for other use cases (rules, parsers, row lookups) are listed as exempt.
_USE_CASE_MODULES = ("service", "runs", "auth", "audit", "anchors", "experiments", "run_data", "run_search",
                     "aliases", "model_edits", "logged_models")
_NOT_USE_CASES = {
    "auth": {"authenticate", "bootstrap_admin", "role_for_transition"},
    "audit": {"append", "lock_head", "record_hash", "first_free_version", "verify", "search", "resolve_ref_at"},
    "anchors": {"latest"},
    "runs": {"run_row", "load_runs"},
    "service": {"version_file", "lock_model", "load_model", "version_values"},
    "model_edits": set(),
    "logged_models": {"logged_model_row", "has_files"},
    "experiments": {"experiment_row", "check_experiment_name"},
    "run_data": set(),
    "run_search": set(),
    "aliases": set(),
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
