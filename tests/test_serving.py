"""helpers.serving: TensorFlow Serving's folder layout and REST JSON, answered in process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import serving
from helpers.errors import ArtifactError, IncompleteArtifactError
from helpers.verify import assert_same


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    """An untrained digits MLP exported with model.export() (one input, one output)."""
    from helpers.kit.models import digits_mlp

    folder = tmp_path_factory.mktemp("serving") / "export"
    digits_mlp().export(folder, verbose=False)
    return folder


@pytest.fixture(scope="module")
def loaded(export):
    import tensorflow as tf

    return tf.saved_model.load(str(export))


@pytest.fixture(scope="module")
def two_outputs(tmp_path_factory):
    """A tf.Module whose serving signature returns two named outputs."""
    import tensorflow as tf

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def predict(self, x):
            return {"double": 2.0 * x, "total": tf.reduce_sum(x, axis=1)}

    folder = tmp_path_factory.mktemp("two") / "export"
    module = Doubler()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.predict})
    return tf.saved_model.load(str(folder))


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(1).random((10, 64), dtype=np.float32)


def test_layout_copies_into_a_numbered_version(export, tmp_path):
    base = tmp_path / "models" / "digits_mlp"
    version = serving.serving_layout(export, base, version=3)
    assert version == base / "3"
    assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
    assert sorted(p.name for p in base.iterdir()) == ["3"], "no temporary folder left"
    with pytest.raises(ArtifactError, match="already exists"):
        serving.serving_layout(export, base, version=3)
    with pytest.raises(ValueError, match="positive integer"):
        serving.serving_layout(export, base, version=0)
    with pytest.raises(IncompleteArtifactError):
        serving.serving_layout(tmp_path, base, version=4)


def test_rest_url():
    assert serving.rest_url("m") == "http://localhost:8501/v1/models/m:predict"
    assert serving.rest_url("m", 2, host="h") == "http://h:8501/v1/models/m/versions/2:predict"


def test_request_forms():
    a = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    assert serving.predict_request(a) == {"instances": [[1.0, 2.0], [3.0, 4.0]]}
    assert serving.predict_request({"p": a}, signature_name="s") == {
        "signature_name": "s",
        "instances": [{"p": [1.0, 2.0]}, {"p": [3.0, 4.0]}],
    }
    assert serving.predict_request(a, form="inputs") == {"inputs": [[1.0, 2.0], [3.0, 4.0]]}
    assert serving.predict_request({"p": a}, form="inputs") == {
        "inputs": {"p": [[1.0, 2.0], [3.0, 4.0]]}
    }
    with pytest.raises(ValueError, match="same batch size"):
        serving.predict_request({"p": a, "q": a[:1]})
    with pytest.raises(ValueError, match="'instances' or 'inputs'"):
        serving.predict_request(a, form="rows")


@pytest.mark.parametrize("form", ["instances", "inputs"])
@pytest.mark.parametrize("named", [True, False], ids=["named", "unnamed"])
def test_round_trip_through_json_is_bit_identical(loaded, x, form, named):
    import tensorflow as tf

    direct = loaded.signatures["serving_default"](pixels=tf.constant(x))["output_0"]
    request = serving.predict_request({"pixels": x} if named else x, form=form)
    response = json.loads(json.dumps(serving.answer_request(loaded, json.dumps(request))))
    assert list(response) == (["predictions"] if form == "instances" else ["outputs"])
    assert_same(direct, serving.response_array(response), names=("direct", form))


def test_float32_survives_json_exactly():
    values = np.random.default_rng(2).standard_normal(10_000).astype(np.float32)
    back = np.asarray(json.loads(json.dumps(values.tolist())), dtype=np.float32)
    assert np.array_equal(values.view(np.uint32), back.view(np.uint32))


def test_two_outputs_are_keyed_by_name(two_outputs):
    rows = serving.answer_request(two_outputs, {"instances": [[1.0, 2.0], [3.0, 5.0]]})
    assert rows == {
        "predictions": [
            {"double": [2.0, 4.0], "total": 3.0},
            {"double": [6.0, 10.0], "total": 8.0},
        ]
    }
    columns = serving.answer_request(two_outputs, {"inputs": {"x": [[1.0, 2.0]]}})
    assert columns == {"outputs": {"double": [[2.0, 4.0]], "total": [3.0]}}
    assert serving.response_array(rows, "total").tolist() == [3.0, 8.0]
    assert serving.response_array(columns, "double").tolist() == [[2.0, 4.0]]
    for response in (rows, columns):
        with pytest.raises(ValueError, match="pass output_key"):
            serving.response_array(response)


@pytest.mark.parametrize(
    ("request_body", "phrase"),
    [
        ({"instances": [[0.0] * 64], "signature_name": "nope"}, "'nope' not found"),
        ({"instances": [{"image": [0.0] * 64}]}, "needs exactly the inputs ['pixels']"),
        ({"inputs": {"image": [[0.0] * 64]}}, "expects inputs ['pixels'], got ['image']"),
        ({"instances": [[0.0] * 64], "inputs": [[0.0] * 64]}, "exactly one of"),
        ({}, "exactly one of"),
        ({"instances": [[0.0] * 63]}, "'pixels' has shape (1, 63), the signature needs (?, 64)"),
    ],
    ids=["signature", "row key", "column key", "both forms", "no form", "shape"],
)
def test_bad_requests_get_an_error_object(loaded, request_body, phrase):
    response = serving.answer_request(loaded, request_body)
    assert list(response) == ["error"] and phrase in response["error"], response
    with pytest.raises(ValueError, match="answered with an error"):
        serving.response_array(response)


def test_response_array_rejects_other_json():
    with pytest.raises(ValueError, match="not a predict response"):
        serving.response_array('{"model_version_status": []}')


def test_preview_cuts_lists_and_rounds_floats():
    body = {"instances": [{"p": [0.123456, 1.0, 2.0, 3.0]}] * 5}
    text = serving.preview(body, items=2, digits=2)
    assert text == (
        "{\n"
        '  "instances": [\n'
        "    {\n"
        '      "p": [0.12, 1.0, "... 2 more"]\n'
        "    },\n"
        "    {\n"
        '      "p": [0.12, 1.0, "... 2 more"]\n'
        "    },\n"
        '    "... 3 more"\n'
        "  ]\n"
        "}"
    )


@pytest.fixture(scope="module")
def half_plus_three(tmp_path_factory):
    """The REST API page's example model, y = x / 2 + 3, with a ``serving_default`` signature."""
    import tensorflow as tf

    class HalfPlusThree(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": 0.5 * x + 3.0}

    folder = tmp_path_factory.mktemp("half_plus_three") / "00000123"
    module = HalfPlusThree()
    tf.saved_model.save(module, str(folder), signatures=module.__call__)
    return tf.saved_model.load(str(folder))


def test_the_documented_example_is_answered_as_documented(half_plus_three):
    """https://www.tensorflow.org/tfx/serving/api_rest, "Example": request and response."""
    answer = serving.answer_request(half_plus_three, '{"instances": [1.0,2.0,5.0]}')
    assert answer == {"predictions": [3.5, 4.0, 5.5]}
    # Columnar form, one output: "we omit the name and `outputs` key maps to a list".
    assert serving.answer_request(half_plus_three, {"inputs": [1.0, 2.0, 5.0]}) == {
        "outputs": [3.5, 4.0, 5.5]
    }
    # The request may name the signature; the default is serving_default.
    named = {"signature_name": "serving_default", "instances": [1.0]}
    assert serving.answer_request(half_plus_three, named) == {"predictions": [3.5]}
    # Errors: an object with the single key "error" holding a string.
    refused = serving.answer_request(half_plus_three, {"instances": [1.0], "signature_name": "x"})
    assert list(refused) == ["error"] and isinstance(refused["error"], str)
