"""Validation of model names, run ids and artifact paths."""
import pytest

from registry.domain.errors import RegistryError
from registry.domain.names import check_artifact_path
from registry.domain.names import check_model_name
from registry.domain.names import check_run_id


@pytest.mark.parametrize("name", ["TextClassifier", "a", "nlp-bert_v2.1", "9lives", "x" * 128])
def test_valid_model_names(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize("name", ["", "-lead", ".hidden", "_x", "has space", "a/b", "x" * 129, "é", None])
def test_invalid_model_names(name):
    with pytest.raises(RegistryError) as caught:
        check_model_name(name)
    assert caught.value.code == "validation_error"


@pytest.mark.parametrize("run_id", ["0" * 31, "0" * 33, "A" * 32, "g" * 32, ""])
def test_invalid_run_ids(run_id):
    with pytest.raises(RegistryError):
        check_run_id(run_id)


@pytest.mark.parametrize("path", ["model.bin", "model/weights.bin", "a/b/c/d.txt", "x" * 1024, "ünïcode/ok", "..a/b.."])
def test_valid_paths(path):
    assert check_artifact_path(path) == path


@pytest.mark.parametrize("path", [
    "", "/abs", "../etc/passwd", "a/../b", "a/./b", "./a", "a//b", "a/", "a\\b",
    "a\x00b", "a\nb", "a\x7fb", "x" * 1025, "..",
])
def test_invalid_paths(path):
    with pytest.raises(RegistryError) as caught:
        check_artifact_path(path)
    assert caught.value.code == "validation_error"
    assert "path" in caught.value.details
