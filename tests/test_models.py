"""Notebook 01 writes out the digits model; helpers.kit.models must be that same model.

``assert_same_code`` proves the notebook's ``digits_mlp`` and the package's are the same code.
Code alone does not fix the architecture (a name could mean something else in the notebook's
namespace), so the notebook's function is also run here: same configuration, and from the same
seed the same initial and trained weights as ``helpers.kit.models.digits_mlp``.
"""

from __future__ import annotations

import ast

import keras
import numpy as np
import pytest
from nbsource import assert_same_code, code_cells

from helpers.kit import models
from helpers.kit.data import load_digits


def notebook_digits_mlp():
    """Notebook 01's ``digits_mlp``, executed from the cell that defines it."""
    for text in code_cells("01"):
        tree = ast.parse(text)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "digits_mlp":
                namespace = {"keras": keras}
                exec(compile(ast.Module([node], []), "notebook 01", "exec"), namespace)
                return namespace["digits_mlp"]
    raise AssertionError("notebook 01 defines no digits_mlp")


def test_notebook_shows_the_packaged_model_code():
    assert_same_code("01", models.digits_mlp)


def build_and_train(build, epochs: int) -> keras.Model:
    digits = load_digits()
    keras.utils.set_random_seed(0)
    model = build()
    if epochs:
        model.fit(digits.x_train, digits.y_train, epochs=epochs, batch_size=32, verbose=0)
    return model


@pytest.mark.parametrize("epochs", [0, 2], ids=["initial", "trained"])
def test_same_architecture_and_weights_from_the_same_seed(epochs):
    shown = build_and_train(notebook_digits_mlp(), epochs)
    packaged = build_and_train(models.digits_mlp, epochs)
    assert shown.get_config() == packaged.get_config()  # layers, names, shapes, connections

    def optimizer_config(model):  # the optimizer's name carries a process-wide counter
        return {k: v for k, v in model.optimizer.get_config().items() if k != "name"}

    assert optimizer_config(shown) == optimizer_config(packaged)
    assert shown.loss == packaged.loss
    for mine, theirs in zip(shown.weights, packaged.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


def _calls(tree: ast.AST) -> set[str]:
    """Dotted names of the functions called in ``tree`` (``tf.config.x.y``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts, target = [], node.func
            while isinstance(target, ast.Attribute):
                parts.append(target.attr)
                target = target.value
            if isinstance(target, ast.Name):
                names.add(".".join([target.id, *reversed(parts)]))
    return names


def test_notebook_shows_the_seeding_that_setup_does():
    """Every TensorFlow/Keras call of helpers.kit.setup.seed_everything is made in a cell of 01."""
    import inspect
    import textwrap

    from helpers.kit import setup

    packaged = _calls(ast.parse(textwrap.dedent(inspect.getsource(setup.seed_everything))))
    packaged = {name for name in packaged if name.split(".")[0] in {"tf", "keras"}}
    assert "tf.config.experimental.enable_op_determinism" in packaged  # the parse found them
    shown = set().union(*(_calls(ast.parse(text)) for text in code_cells("01")))
    assert packaged <= shown, f"notebook 01 does not show {sorted(packaged - shown)}"
