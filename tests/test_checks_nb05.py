"""Notebook 05's exercise checks, on tiny models in a temp folder."""

from __future__ import annotations

import json
import zipfile

import keras
import pytest
from harness.answers import solution

from helpers import integrity
from helpers.checks import nb05
from helpers.custom_objects import ResidualDense


@keras.saving.register_keras_serializable(package="my_team")
class TeamDense(ResidualDense):
    """ResidualDense under another package, as the exercise asks."""


def tiny_model(layer: keras.layers.Layer) -> keras.Model:
    inputs = keras.Input(shape=(4,), name="features")
    return keras.Model(inputs, layer(inputs))


@pytest.fixture(scope="module")
def team_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("team") / "team.keras"
    tiny_model(TeamDense(name="block")).save(path)
    return path


def test_exercise_1_right_answer_and_the_registry_is_restored(team_path, capsys):
    assert nb05.exercise_1(team_path, "my_team>TeamDense").solved is True
    assert "✅ Exercise 5.1 (a second package) solved." in capsys.readouterr().out
    assert keras.saving.get_registered_object("my_team>TeamDense") is TeamDense


def test_exercise_1_placeholder(team_path, capsys):
    assert nb05.exercise_1(None, None).solved is False
    assert nb05.exercise_1(team_path, ...).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "not solved yet: set `team_path`" in out[0]
    assert "not solved yet: set `custom_objects_key`" in out[1]


def test_exercise_1_bare_class_name_gets_a_hint(team_path, capsys):
    assert nb05.exercise_1(team_path, "TeamDense").solved is False
    assert "`TeamDense` is the bare class name" in capsys.readouterr().out


def test_exercise_1_wrong_package_gets_a_hint(tmp_path, capsys):
    path = tmp_path / "kit.keras"
    tiny_model(ResidualDense(name="block")).save(path)
    assert nb05.exercise_1(path, "tf_saving_kit>ResidualDense").solved is False
    out = capsys.readouterr().out
    assert "No class in the file is registered under `my_team`" in out
    assert "subclass it" in out


def test_exercise_1_not_a_keras_file(tmp_path, capsys):
    (tmp_path / "x.keras").write_text("not a zip")
    assert nb05.exercise_1(tmp_path / "x.keras", "my_team>TeamDense").solved is False
    assert "is not a .keras archive" in capsys.readouterr().out


def tampered(tmp_path, *, manifest_first: bool = True):
    path = tmp_path / "tampered.keras"
    tiny_model(keras.layers.Dense(3, name="dense")).save(path)
    if manifest_first:
        integrity.write_manifest(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    if not manifest_first:
        integrity.write_manifest(path)
    try:
        integrity.verify_manifest(path)
    except integrity.IntegrityError as error:
        return path, error
    return path, None


def test_exercise_2_right_answer(tmp_path, capsys):
    path, error = tampered(tmp_path)
    with pytest.raises(Exception):  # noqa: B017 - whatever Keras raises, it noticed
        keras.models.load_model(path)
    assert nb05.exercise_2(path, error, True).solved is True
    out = capsys.readouterr().out
    assert "✅ Exercise 5.2 (catch a one-byte change) solved." in out
    assert "`load_model` failed too" in out


def test_exercise_2_placeholder_and_wrong_answers(tmp_path, capsys):
    path, error = tampered(tmp_path)
    assert nb05.exercise_2(path, error, None).solved is False
    assert nb05.exercise_2(path, error, False).solved is False  # Keras does raise on this file
    assert nb05.exercise_2(path, ValueError("x"), True).solved is False
    out = capsys.readouterr().out.splitlines()
    assert "not solved yet: set `keras_noticed`" in out[0]
    assert "`keras.models.load_model` raises on this file" in out[1]
    assert "should be the `helpers.integrity.IntegrityError`" in out[2]


def test_exercise_2_manifest_written_after_the_change(tmp_path, capsys):
    path, error = tampered(tmp_path, manifest_first=False)
    assert error is None
    assert nb05.exercise_2(path, integrity.IntegrityError(path, "x"), True).solved is False
    assert "write the manifest first, then change a byte" in capsys.readouterr().out


def test_exercise_2_no_manifest(tmp_path, capsys):
    path = tmp_path / "plain.keras"
    tiny_model(keras.layers.Dense(3)).save(path)
    assert nb05.exercise_2(path, integrity.IntegrityError(path, "x"), True).solved is False
    assert "There is no manifest next to the file" in capsys.readouterr().out


def test_config_walk_finds_nested_registered_names(team_path):
    with zipfile.ZipFile(team_path) as archive:
        config = json.loads(archive.read("config.json"))
    assert "my_team>TeamDense" in set(nb05._registered_names(config))


def test_exercise_1_class_left_unregistered_gets_a_hint(team_path, capsys):
    registry = keras.saving.get_custom_objects()
    cls = registry.pop("my_team>TeamDense")
    try:
        assert nb05.exercise_1(team_path, "my_team>TeamDense").solved is False
    finally:
        registry["my_team>TeamDense"] = cls
    assert "is not registered in this kernel" in capsys.readouterr().out


# --- The habit: what the answer cell did, not only what it produced (issue 22) ----------------


def test_exercise_1_accepts_the_solution_and_another_correct_answer(team_path, capsys):
    key = "my_team>TeamDense"
    assert nb05.exercise_1(team_path, key, source=solution("05", "custom_objects_key"))
    other = (
        "with zipfile.ZipFile(team_path) as z:\n"
        "    config = json.loads(z.read('config.json'))\n"
        "(custom_objects_key,) = {l['registered_name'] for l in config['config']['layers']\n"
        "                         if l['registered_name'].startswith('my_team>')}\n"
    )
    assert nb05.exercise_1(team_path, key, source=other)


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ('custom_objects_key = "my_team>TeamDense"\n', "`custom_objects_key` is typed in"),
        (  # a step skipped: the key is built, not read from the file
            'custom_objects_key = "my_team>" + TeamDense.__name__\n',
            "Read the layer's `registered_name` from `config.json`",
        ),
        (  # the forbidden shortcut: the kit's inspector
            "custom_objects_key = helpers.inspection.keras_config(p)['config.json']\n",
            "the kit's inspectors and checks are off limits",
        ),
    ],
)
def test_exercise_1_rejects_answers_that_skip_the_habit(team_path, rejected, source, hint):
    assert hint in rejected(nb05.exercise_1(team_path, "my_team>TeamDense", source=source))


def test_exercise_1_rejects_an_earlier_file(tmp_path, rejected):
    """An object from an earlier cell: section 1's file, with no `my_team` class."""
    path = tmp_path / "resnet.keras"
    tiny_model(ResidualDense(name="block")).save(path)
    out = rejected(nb05.exercise_1(path, "tf_saving_kit>ResidualDense"))
    assert "No class in the file is registered under `my_team`" in out


def test_exercise_2_accepts_the_solution_and_another_correct_answer(tmp_path, capsys):
    path, error = tampered(tmp_path)
    assert nb05.exercise_2(path, error, True, source=solution("05", "keras_noticed"))
    other = (
        "helpers.integrity.write_manifest(tampered_path)\n"
        "keras_noticed = True\n"  # typed, but then overwritten by what happened
        "try:\n    keras.models.load_model(tampered_path)\nexcept Exception:\n    pass\n"
        "else:\n    keras_noticed = False\n"
    )
    assert nb05.exercise_2(path, error, True, source=other)


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        (  # typed in
            "helpers.integrity.write_manifest(p)\nkeras.models.load_model\nkeras_noticed = True\n",
            "`keras_noticed` is typed in",
        ),
        (  # a step skipped: load_model never tried
            "helpers.integrity.write_manifest(p)\nkeras_noticed = p.stat().st_size > 0\n",
            "Try the changed file with `keras.models.load_model`",
        ),
        (  # the forbidden shortcut: an error built by hand
            "helpers.integrity.write_manifest(p)\nmanifest_error = "
            "helpers.integrity.IntegrityError(p, 'changed')\n",
            "Do not build an `IntegrityError` yourself",
        ),
    ],
)
def test_exercise_2_rejects_answers_that_skip_the_habit(tmp_path, rejected, source, hint):
    path, error = tampered(tmp_path)
    assert hint in rejected(nb05.exercise_2(path, error, True, source=source))


def test_exercise_2_rejects_an_earlier_file_and_its_error(tmp_path, rejected):
    """An object from an earlier cell: section 3's file, overwritten by another model, and the
    IntegrityError section 3 caught: no middle byte was changed."""
    path = tmp_path / "digits_resnet.keras"
    tiny_model(keras.layers.Dense(3)).save(path)
    integrity.write_manifest(path)
    tiny_model(keras.layers.Dense(5)).save(path)  # another model saved in its place
    try:
        integrity.verify_manifest(path)
    except integrity.IntegrityError as error:
        earlier_error = error
    out = rejected(nb05.exercise_2(path, earlier_error, False))
    assert "differs from the file its manifest recorded by more than its middle byte" in out
