"""TensorFlow Serving without a server: its folder layout and its REST predict JSON.

TensorFlow Serving (``tensorflow/serving``) serves ``MODEL_BASE/<version>/`` SavedModel
folders and answers ``POST /v1/models/<name>[/versions/<v>]:predict`` with JSON, in the shapes
its REST API page documents (https://www.tensorflow.org/tfx/serving/api_rest). This module
builds those requests from a signature and reads the answers back. :func:`answer_request` is a
*stand-in* for the server, not the server: it decodes the JSON, calls the SavedModel's
signature in this process and encodes the result the way the page describes (the unit tests
check it against the page's own example). Floats go through JSON as Python floats: a float32
survives the round trip bit for bit.

Serves notebook 03.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import ArtifactError
from helpers.inspection import inspect_savedmodel

REST_PORT = 8501
GRPC_PORT = 8500


def serving_layout(
    export_dir: str | os.PathLike[str], model_base: str | os.PathLike[str], version: int = 1
) -> Path:
    """Copy a SavedModel to ``model_base/<version>/``, the layout TensorFlow Serving reads.

    The server watches ``model_base`` and serves the highest version number; the copy is
    written under a temporary name and renamed, so the server never sees half a version.
    """
    source = inspect_savedmodel(export_dir)
    if version < 1:
        raise ValueError(f"version must be a positive integer, got {version}")
    target = Path(model_base) / str(version)
    if target.exists():
        raise ArtifactError(target, "version folder already exists; versions are immutable")
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    os.replace(partial, target)
    return target


def rest_url(model: str, version: int | None = None, *, host: str = "localhost") -> str:
    """The REST predict URL of ``model`` (the latest version unless ``version`` is given)."""
    versioned = f"/versions/{version}" if version is not None else ""
    return f"http://{host}:{REST_PORT}/v1/models/{model}{versioned}:predict"


def _listed(value: Any) -> Any:
    return np.asarray(value).tolist()


def predict_request(
    inputs: Mapping[str, Any] | Any,
    *,
    form: str = "instances",
    signature_name: str | None = None,
) -> dict[str, Any]:
    """The JSON body of a REST predict request.

    ``form="instances"`` (row format): one entry per example; a mapping of named inputs
    becomes a list of objects, a single unnamed array a list of rows. ``form="inputs"``
    (columnar format): the whole batch per input. ``signature_name`` defaults, on the
    server, to ``serving_default``.
    """
    body: dict[str, Any] = {}
    if signature_name is not None:
        body["signature_name"] = signature_name
    named = isinstance(inputs, Mapping)
    if form == "instances":
        if named:
            columns = {key: np.asarray(value) for key, value in inputs.items()}
            sizes = {len(value) for value in columns.values()}
            if len(sizes) != 1:
                raise ValueError("row format needs every input to have the same batch size")
            body["instances"] = [
                {key: _listed(value[row]) for key, value in columns.items()}
                for row in range(sizes.pop())
            ]
        else:
            body["instances"] = _listed(inputs)
    elif form == "inputs":
        body["inputs"] = (
            {key: _listed(value) for key, value in inputs.items()} if named else _listed(inputs)
        )
    else:
        raise ValueError(f"form must be 'instances' or 'inputs', not {form!r}")
    return body


def _request_arrays(request: Mapping[str, Any], specs: Mapping[str, Any]) -> dict[str, Any]:
    if ("instances" in request) == ("inputs" in request):
        raise ValueError("the request needs exactly one of 'instances' and 'inputs'")
    keys = sorted(specs)
    if "instances" in request:
        rows = request["instances"]
        if rows and all(isinstance(row, Mapping) for row in rows):
            names = sorted({name for row in rows for name in row})
            if names != keys or any(sorted(row) != keys for row in rows):
                raise ValueError(f"every instance needs exactly the inputs {keys}, got {names}")
            columns = {key: [row[key] for row in rows] for key in keys}
        elif len(keys) == 1:
            columns = {keys[0]: rows}
        else:
            raise ValueError(f"the signature has inputs {keys}: send a list of objects")
    else:
        given = request["inputs"]
        if isinstance(given, Mapping):
            columns = dict(given)
        elif len(keys) == 1:
            columns = {keys[0]: given}
        else:
            raise ValueError(f"the signature has inputs {keys}: send an object of inputs")
    if sorted(columns) != keys:
        raise ValueError(f"the signature expects inputs {keys}, got {sorted(columns)}")
    arrays = {}
    for key in keys:
        array = np.asarray(columns[key], dtype=specs[key].dtype.as_numpy_dtype)
        if not specs[key].shape.is_compatible_with(array.shape):
            wanted = str(tuple(specs[key].shape.as_list())).replace("None", "?")
            raise ValueError(f"input {key!r} has shape {array.shape}, the signature needs {wanted}")
        arrays[key] = array
    return arrays


def answer_request(loaded: Any, request: Mapping[str, Any] | str) -> dict[str, Any]:
    """Answer a predict request with a loaded SavedModel: a stand-in for TensorFlow Serving.

    Row requests get ``{"predictions": ...}``, columnar ones ``{"outputs": ...}``; with one
    output its name is left out, with several each row (or the object) is keyed by name. A
    bad request gets ``{"error": "..."}``, the documented error body (the server's message text
    differs, and it also sets an HTTP error status).
    """
    import tensorflow as tf

    if isinstance(request, str):
        request = json.loads(request)
    name = request.get("signature_name", "serving_default")
    if name not in loaded.signatures:
        return {"error": f"Serving signature name: {name!r} not found in signature def"}
    function = loaded.signatures[name]
    _, specs = function.structured_input_signature
    try:
        arrays = _request_arrays(request, specs)
    except (ValueError, TypeError, KeyError) as error:
        return {"error": str(error)}
    try:
        results = function(**{key: tf.constant(array) for key, array in arrays.items()})
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
        return {"error": " ".join(str(error).split())[:500]}
    outputs = {key: value.numpy() for key, value in results.items()}
    if "instances" in request:
        if len(outputs) == 1:
            return {"predictions": _listed(next(iter(outputs.values())))}
        size = len(next(iter(outputs.values())))
        return {
            "predictions": [
                {key: _listed(value[row]) for key, value in sorted(outputs.items())}
                for row in range(size)
            ]
        }
    if len(outputs) == 1:
        return {"outputs": _listed(next(iter(outputs.values())))}
    return {"outputs": {key: _listed(value) for key, value in sorted(outputs.items())}}


def response_array(
    response: Mapping[str, Any] | str, output_key: str | None = None, dtype: Any = np.float32
) -> np.ndarray:
    """The predictions in a predict response, as an array (``output_key`` if several)."""
    if isinstance(response, str):
        response = json.loads(response)
    if "error" in response:
        raise ValueError(f"the server answered with an error: {response['error']}")
    if "predictions" in response:
        value = response["predictions"]
        if value and isinstance(value[0], Mapping):
            if output_key is None:
                raise ValueError(f"several outputs {sorted(value[0])}: pass output_key")
            value = [row[output_key] for row in value]
    elif "outputs" in response:
        value = response["outputs"]
        if isinstance(value, Mapping):
            if output_key is None:
                raise ValueError(f"several outputs {sorted(value)}: pass output_key")
            value = value[output_key]
    else:
        raise ValueError(f"not a predict response (keys: {sorted(response)})")
    return np.asarray(value, dtype=dtype)


def preview(body: Any, *, items: int = 3, digits: int = 4) -> str:
    """JSON for reading: lists cut to ``items`` entries (``"... N more"``), floats rounded,
    lists of plain values on one line."""

    def render(value: Any, indent: str) -> str:
        inner = indent + "  "
        if isinstance(value, Mapping):
            if not value:
                return "{}"
            rows = [
                f"{inner}{json.dumps(key)}: {render(item, inner)}" for key, item in value.items()
            ]
            return "{\n" + ",\n".join(rows) + f"\n{indent}}}"
        if isinstance(value, list):
            kept = [render(item, inner) for item in value[:items]]
            if len(value) > items:
                kept.append(json.dumps(f"... {len(value) - items} more"))
            if all(not isinstance(item, (list, Mapping)) for item in value):
                return "[" + ", ".join(kept) + "]"
            return "[\n" + ",\n".join(inner + item for item in kept) + f"\n{indent}]"
        if isinstance(value, float):
            return json.dumps(round(value, digits))
        return json.dumps(value)

    return render(body, "")
