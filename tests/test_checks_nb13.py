"""Notebook 13's exercise checks: roll an alias back, find the version behind an answer.

Exercise 1 runs on a real MLflow registry (an SQLite file in a temporary folder), built once
per module and copied for each test; exercise 2 needs only arrays and two stand-in models.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import helpers  # quiet TensorFlow first (also used by a wrong answer below)
from helpers.checks import nb13

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

# --- exercise 1 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_registry(tmp_path_factory):
    """A registry like the notebook's: versions 1, 2 verified, 3 not, champion -> 3."""
    import mlflow
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("registry")
    database = folder / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{database.as_posix()}")
    experiment = client.create_experiment("digits", artifact_location=(folder / "store").as_uri())
    run = client.create_run(experiment)
    (folder / "model").mkdir()
    (folder / "model" / "MLmodel").write_text("flavors: {}\n")
    client.log_artifacts(run.info.run_id, str(folder / "model"), artifact_path="model")
    client.create_registered_model("digits")
    for flag in ("true", "true", "false"):
        client.create_model_version(
            "digits", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id,
            tags={"verified": flag},
        )  # fmt: skip
    client.set_registered_model_alias("digits", "champion", "3")
    del mlflow
    return database


@pytest.fixture
def registry(base_registry, tmp_path):
    from mlflow import MlflowClient

    database = tmp_path / "mlflow.db"
    shutil.copyfile(base_registry, database)
    return MlflowClient(tracking_uri=f"sqlite:///{database.as_posix()}"), database


def roll_back_right(client, name):
    current = int(client.get_model_version_by_alias(name, "champion").version)
    good = [
        int(mv.version)
        for mv in client.search_model_versions(f"name='{name}'")
        if int(mv.version) < current and mv.tags.get("verified") == "true"
    ]
    client.set_registered_model_alias(name, "champion", str(max(good)))
    return str(max(good))


def roll_back_walking_down(client, name):
    """Another correct way: walk down from the champion one version at a time; returns int."""
    number = int(client.get_model_version_by_alias(name, "champion").version) - 1
    while client.get_model_version(name, str(number)).tags.get("verified") != "true":
        number -= 1
    client.set_registered_model_alias(name, "champion", str(number))
    return number


def solve(function, registry):
    client, database = registry
    answer = function(client, "digits")
    return nb13.exercise_1(function, answer, client, database)


def test_exercise_1_right_answer(registry, capsys):
    assert solve(roll_back_right, registry).solved is True
    assert "✅ Exercise 13.1" in capsys.readouterr().out


def test_exercise_1_accepts_another_correct_function(registry):
    assert solve(roll_back_walking_down, registry).solved is True


def test_exercise_1_not_attempted(registry, capsys):
    client, database = registry
    assert not nb13.exercise_1(None, None, client, database)
    assert "not solved yet: set `roll_back`" in capsys.readouterr().out


def typed_two(client, name):
    client.set_registered_model_alias(name, "champion", "2")
    return "2"


def finds_but_does_not_move(client, name):
    current = int(client.get_model_version_by_alias(name, "champion").version)
    return str(max(int(mv.version) for mv in client.search_model_versions(f"name='{name}'")
                   if int(mv.version) < current and mv.tags.get("verified") == "true"))  # fmt: skip


def deletes_the_bad_version(client, name):
    bad = str(client.get_model_version_by_alias(name, "champion").version)
    answer = roll_back_right(client, name)
    client.delete_model_version(name, bad)
    return answer


def reads_the_database(client, name):
    import sqlite3  # noqa: F401  (the forbidden shortcut: the names are enough to refuse it)

    return helpers.kit.registry.query("mlflow.db", "SELECT version FROM model_versions")


NOTEBOOK_CLIENT = None  # set by the test that uses it: the notebook's client, not the argument


def uses_the_notebook_client(client, name):
    return roll_back_right(NOTEBOOK_CLIENT, name)


def compares_with_itself(client, name):
    champion = client.get_model_version_by_alias(name, "champion")
    good = [
        int(mv.version)
        for mv in client.search_model_versions(f"name='{name}'")
        if int(mv.version) < int(mv.version) and mv.tags.get("verified") == "true"
    ]
    client.set_registered_model_alias(name, "champion", str(max(good, default=champion.version)))
    return str(max(good, default=champion.version))


def moves_to_newest_verified(client, name):
    good = [int(mv.version) for mv in client.search_model_versions(f"name='{name}'")
            if mv.tags.get("verified") == "true"]  # fmt: skip
    client.set_registered_model_alias(name, "champion", str(max(good)))
    return str(max(good))


@pytest.mark.parametrize(
    ("function", "hint"),
    [
        (typed_two, "champion` ended on version 2; it should be 4"),
        (finds_but_does_not_move, "still points at version 3"),
        (deletes_the_bad_version, "deleted versions"),
        (reads_the_database, "reads the database directly (helpers, query, sqlite3)"),
        (uses_the_notebook_client, "Use the `client` and `name` it is given"),
        (compares_with_itself, "still points at version 3"),
        (moves_to_newest_verified, "never a newer one"),
    ],
    ids=lambda value: getattr(value, "__name__", "hint"),
)
def test_exercise_1_rejects(function, hint, registry, capsys):
    global NOTEBOOK_CLIENT
    client, database = registry
    NOTEBOOK_CLIENT = client
    try:
        answer = function(client, "digits")
    except Exception:
        answer = "?"
    assert not nb13.exercise_1(function, answer, client, database)
    out = capsys.readouterr().out
    assert "❌ Exercise 13.1" in out and hint in out, out


def test_exercise_1_rejects_a_typed_answer_when_the_alias_was_not_moved(registry, capsys):
    client, database = registry
    assert not nb13.exercise_1(roll_back_right, "2", client, database)
    assert "still points at version 3" in capsys.readouterr().out


def test_exercise_1_rejects_an_answer_from_an_earlier_cell(registry, capsys):
    client, database = registry
    roll_back_right(client, "digits")
    v1_version = "1"  # e.g. v1.version, the first registered version
    assert not nb13.exercise_1(roll_back_right, v1_version, client, database)
    assert "`rolled_back_to` is '1' but `champion` points at version 2" in capsys.readouterr().out


def test_exercise_1_an_exception_in_the_check_becomes_a_sentence(registry, capsys):
    client, _ = registry
    assert not nb13.exercise_1(roll_back_right, "2", client, "no/such/mlflow.db")
    out = capsys.readouterr().out
    assert "❌ Exercise 13.1" in out and "Traceback" not in out


# --- exercise 2 ----------------------------------------------------------------------------

ROWS = np.zeros((8, 64), np.float32)
P1 = np.random.default_rng(1).random((8, 10), dtype=np.float32)
P2 = np.random.default_rng(2).random((8, 10), dtype=np.float32)


class Fixed:
    """Stands in for a Keras model: predict returns fixed outputs for the notebook's rows."""

    def __init__(self, outputs):
        self.outputs = outputs

    def predict(self, rows, verbose=None):
        assert rows is ROWS and verbose == 0
        return self.outputs


def version_of_right(answer, candidates):
    answer = np.asarray(answer, dtype=np.float32)
    for number, predictions in candidates.items():
        if predictions.shape == answer.shape and np.array_equal(predictions, answer):
            return number
    return None


def version_of_as_int(answer, candidates):
    """Another correct way: element-wise equality, and an int."""
    matches = [k for k, p in candidates.items() if np.shape(answer) == p.shape
               and bool((p == np.asarray(answer, np.float32)).all())]  # fmt: skip
    return int(matches[0]) if matches else None


def check_2(function, served_version="2", served=P2):
    return nb13.exercise_2(function, served_version, served, Fixed(P1), Fixed(P2), ROWS)


def test_exercise_2_right_answer(capsys):
    assert check_2(version_of_right).solved is True
    assert "✅ Exercise 13.2" in capsys.readouterr().out


def test_exercise_2_accepts_another_correct_function():
    assert check_2(version_of_as_int, served_version=2).solved is True


def test_exercise_2_not_attempted(capsys):
    assert not check_2(None)
    assert "not solved yet: set `version_of`" in capsys.readouterr().out


SERVED_EARLIER = P2  # a global from an earlier cell


def typed_in(answer, candidates):
    return "2"


def allclose(answer, candidates):
    for number, predictions in candidates.items():
        if np.allclose(predictions, np.asarray(answer, np.float32)):
            return number
    return None


def asks_the_registry(answer, candidates):
    from mlflow import MlflowClient

    return MlflowClient().get_model_version_by_alias("digits", "champion").version


def uses_an_earlier_answer(answer, candidates):
    return version_of_right(SERVED_EARLIER, candidates)


def compares_answer_with_itself(answer, candidates):
    for number in candidates:
        if np.array_equal(answer, answer):
            return number
    return None


def closest(answer, candidates):
    answer = np.asarray(answer, np.float32)
    return min(candidates, key=lambda k: float(np.abs(candidates[k] - answer).max()))


@pytest.mark.parametrize(
    ("function", "hint"),
    [
        (typed_in, "case 'nearly equal comes first': version_of returned '2'"),
        (allclose, "case 'nearly equal comes first': version_of returned '4'"),
        (asks_the_registry, "asks the registry (MlflowClient, get_model_version_by_alias)"),
        (uses_an_earlier_answer, "the second of two': version_of returned None, expected '2'"),
        (compares_answer_with_itself, "case 'the second of two': version_of returned '1'"),
        (closest, "case 'no version': version_of returned '1', expected None"),
    ],
    ids=lambda value: getattr(value, "__name__", "hint"),
)
def test_exercise_2_rejects(function, hint, capsys):
    assert not check_2(function)
    out = capsys.readouterr().out
    assert "❌ Exercise 13.2" in out and hint in out, out


def test_exercise_2_rejects_the_alias_typed_as_the_answer(capsys):
    assert not check_2(version_of_right, served_version="1")
    assert "`served_version` is '1'" in capsys.readouterr().out


def test_exercise_2_rejects_an_answer_that_matches_no_version(capsys):
    assert not check_2(version_of_right, served=P1 + np.float32(1))
    assert "matches no version" in capsys.readouterr().out
