"""Compiled read statements give exactly what their peewee query gives, for any arguments, on both databases."""
import datetime
import math

import pytest

from registry.domain import service
from registry.domain.run_data import Batch
from registry.domain.run_data import log_batch
from registry.domain.values import MetricPoint
from registry.models import ModelVersion
from registry.models import RegisteredModel
from registry.statements import MAX_KEPT_LIST_LENGTH
from registry.statements import Statement
from tests.test_service import OPERATOR
from tests.test_service import _run


@pytest.fixture
def storage(app):
    with app.app_context():
        yield app.extensions["registry_storage"]


def _versions(storage, count):
    run_id = _run(storage, {"m/w.bin": b"w"})
    for _ in range(count):
        service.register_version(OPERATOR, "Stmt", f"runs:/{run_id}/m")
    return run_id


def test_rows_are_the_querys_own_rows_with_fields_converted(storage):
    _versions(storage, 3)
    model_named = Statement(lambda name: RegisteredModel.select().where(RegisteredModel.name == name))
    model = model_named.first("Stmt")
    assert model == RegisteredModel.get(RegisteredModel.name == "Stmt")
    assert isinstance(model.created_at, datetime.datetime) and model.tags == {}
    assert model_named.first("Absent") is None

    newest_in = Statement(lambda model_id, stage: ModelVersion.select().where(
        (ModelVersion.model == model_id) & (ModelVersion.stage == stage))
        .order_by(ModelVersion.version.desc()).limit(1))
    # Run twice: the second call binds new arguments to the compiled query.
    assert [v.version for v in newest_in.rows(model.id, "None")] == [3]
    service.transition(OPERATOR, "Stmt", "2", "Staging")
    assert [v.version for v in newest_in.rows(model.id, "Staging")] == [2]
    assert newest_in.rows(model.id, "Production") == []


def test_in_lists_of_every_length_even_past_the_kept_ones(storage):
    _versions(storage, MAX_KEPT_LIST_LENGTH + 6)
    numbered = Statement(lambda numbers: ModelVersion.select(ModelVersion.version)
                         .where(ModelVersion.version.in_(numbers)).order_by(ModelVersion.version).tuples())
    for numbers in ([], [1], [5, 2], list(range(1, MAX_KEPT_LIST_LENGTH + 7)), [3, 4, 999]):
        expected = [(n,) for n in sorted(numbers) if n <= MAX_KEPT_LIST_LENGTH + 6]
        assert numbered.rows(numbers) == expected


def test_a_metric_that_is_nan_reaches_the_lineage_as_nan(storage):
    run_id = _versions(storage, 1)
    log_batch(OPERATOR, run_id, Batch(metrics=(MetricPoint("loss", float("nan"), 1, 1),
                                               MetricPoint("acc", 0.5, 1, 1)), params=(("lr", "0.1"),)))
    lineage = service.get_version(OPERATOR, "Stmt", "1").lineage
    assert lineage.metrics["acc"] == 0.5 and math.isnan(lineage.metrics["loss"])
    assert list(lineage.metrics) == ["acc", "loss"] and lineage.params == {"lr": "0.1"}
    assert lineage.experiment == "Default" and lineage.run_name == "svc"


def test_later_calls_convert_and_join_as_the_first_did(storage):
    # The wrapper's column set-up is worked out on the first call that returns rows and reused.
    _versions(storage, 2)
    with_model = Statement(lambda number: ModelVersion.select(ModelVersion, RegisteredModel)
                           .join(RegisteredModel).where(ModelVersion.version == number))
    assert with_model.rows(99) == []
    for number in (1, 2, 1):
        (version,) = with_model.rows(number)
        assert version.version == number and version.model.name == "Stmt"
        assert isinstance(version.created_at, datetime.datetime) and version.tags == {}
        assert version == ModelVersion.get(ModelVersion.version == number)
