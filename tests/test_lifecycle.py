"""The stage rules, checked exhaustively: every (from, to) pair."""
import itertools

import pytest

from registry.domain import lifecycle
from registry.domain.errors import RegistryError

ALLOWED = {
    ("None", "Staging"),
    ("None", "Archived"),
    ("Staging", "Production"),
    ("Staging", "Archived"),
    ("Production", "Archived"),
}


@pytest.mark.parametrize("current,target", list(itertools.product(lifecycle.STAGES, repeat=2)))
def test_every_pair_of_stages(current, target):
    if (current, target) in ALLOWED:
        lifecycle.check_transition(current, target)
        return
    with pytest.raises(RegistryError) as caught:
        lifecycle.check_transition(current, target)
    error = caught.value
    assert error.code == "invalid_transition"
    assert error.details["current_stage"] == current
    assert set(error.details["allowed_stages"]) == {t for c, t in ALLOWED if c == current}


@pytest.mark.parametrize("spelling,stage", [
    ("production", "Production"), ("PRODUCTION", "Production"), ("StAgInG", "Staging"),
    ("none", "None"), ("archived", "Archived"),
])
def test_stage_names_in_any_case(spelling, stage):
    assert lifecycle.parse_stage(spelling) == stage


@pytest.mark.parametrize("bad", ["Prod", "", "Deleted", None, 3])
def test_unknown_stage_is_a_validation_error(bad):
    with pytest.raises(RegistryError) as caught:
        lifecycle.parse_stage(bad)
    assert caught.value.code == "validation_error"


def test_archived_is_final_and_says_how_to_roll_back():
    with pytest.raises(RegistryError) as caught:
        lifecycle.check_transition("Archived", "Production")
    assert "models:/" in caught.value.message
