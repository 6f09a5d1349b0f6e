"""Predict with an exported SavedModel from the command line, in a process of its own.

Usage::

    python -m helpers.predict MODEL_DIR INPUT.npy OUTPUT.npy [--signature serving_default]
                              [--output-key KEY] [--threads N]

It uses TensorFlow and NumPy only: no Keras model code, nothing of the code that built or
trained the model. It checks and loads the SavedModel (:func:`helpers.loading.load_savedmodel`),
feeds the ``.npy`` array to the signature's single input, writes the chosen output as ``.npy``
(atomically), and prints one line of JSON describing what it did. Errors go to stderr as
``error: ...`` with exit status 2 (bad artifact or input) or 1 (anything unexpected).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import ArtifactError, ArtifactNotFoundError


class PredictInputError(ArtifactError):
    """The input file does not fit the signature (missing, wrong dtype or shape)."""


def _input_spec(function: Any, signature_name: str) -> tuple[str, Any]:
    _, keyword_specs = function.structured_input_signature
    if len(keyword_specs) != 1:
        raise ValueError(
            f"signature {signature_name!r} takes {len(keyword_specs)} inputs "
            f"({', '.join(sorted(keyword_specs))}); this tool feeds exactly one"
        )
    return next(iter(keyword_specs.items()))


def _read_input(path: Path, spec: Any) -> np.ndarray:
    if not path.is_file():
        raise ArtifactNotFoundError(path, "no such input .npy file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise PredictInputError(path, f"not a readable .npy array ({error})") from error
    wanted = np.dtype(spec.dtype.as_numpy_dtype)
    if array.dtype != wanted:
        if not np.can_cast(array.dtype, wanted, casting="same_kind"):
            raise PredictInputError(path, f"holds {array.dtype}, the signature needs {wanted.name}")
        array = array.astype(wanted)
    if not spec.shape.is_compatible_with(array.shape):
        expected = str(tuple(spec.shape.as_list())).replace("None", "?")
        raise PredictInputError(path, f"has shape {array.shape}, the signature needs {expected}")
    return array


def predict_file(
    model_dir: str | os.PathLike[str],
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    signature_name: str = "serving_default",
    output_key: str | None = None,
) -> dict[str, Any]:
    """Run ``signature_name`` of the SavedModel on an ``.npy`` file and save one output.

    Returns a summary: signature, input key and shape, output key, shape and dtype.
    """
    import tensorflow as tf

    from helpers.loading import load_savedmodel, signature

    loaded = load_savedmodel(model_dir)
    function = signature(loaded, signature_name)
    input_key, spec = _input_spec(function, signature_name)
    array = _read_input(Path(input_path), spec)
    outputs = function(**{input_key: tf.constant(array)})
    if output_key is None:
        if len(outputs) != 1:
            raise ValueError(
                f"signature {signature_name!r} has outputs {sorted(outputs)}: pick one "
                "with --output-key"
            )
        output_key = next(iter(outputs))
    if output_key not in outputs:
        raise KeyError(f"no output {output_key!r} (outputs: {', '.join(sorted(outputs))})")
    result = outputs[output_key].numpy()
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = output_path.with_name(output_path.name + ".partial.npy")
    np.save(temporary, result)
    os.replace(temporary, output_path)  # a reader never sees half a result
    return {
        "signature": signature_name,
        "input": {"key": input_key, "shape": list(array.shape)},
        "output": {"key": output_key, "shape": list(result.shape), "dtype": result.dtype.name},
    }


def main(argv: list[str] | None = None) -> int:
    """The command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.predict",
        description="Predict with a SavedModel on an .npy file and write the result as .npy.",
    )
    parser.add_argument("model_dir", help="the SavedModel folder (a model.export() output)")
    parser.add_argument("input", help=".npy file with the input batch")
    parser.add_argument("output", help=".npy file to write the chosen output to")
    parser.add_argument("--signature", default="serving_default", help="signature key")
    parser.add_argument("--output-key", default=None, help="output to save (if several)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads per op (1 gives the same bits on any machine, as the notebooks use)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    try:
        summary = predict_file(
            args.model_dir,
            args.input,
            args.output,
            signature_name=args.signature,
            output_key=args.output_key,
        )
    except (ArtifactError, KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":  # `python -m` has imported `helpers` first: TensorFlow stays quiet
    sys.exit(main())
