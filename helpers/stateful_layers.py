"""A custom layer that holds more than weights (notebook 11, where it is written out in full).

:class:`WordEmbedding` learns a vocabulary with ``adapt`` (a Python list: state, but not a
weight), sizes its table from it (``get_build_config``/``build_from_config``), and writes the
vocabulary next to its weights (``save_own_variables``/``load_own_variables``). It is
registered as ``"kit>WordEmbedding"``, so a fresh process that imports this module can load a
``.keras`` file holding it.

Serves notebook 11.
"""

from __future__ import annotations

import json

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="kit")
class WordEmbedding(keras.layers.Layer):
    """Words to vectors: ``encode`` turns words into ids (0 = unknown), ``call`` looks them up."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.vocabulary = []  # learned by adapt(): state that is not a weight

    def adapt(self, words):
        self.vocabulary = sorted(set(words))

    def encode(self, words):
        index = {word: i + 1 for i, word in enumerate(self.vocabulary)}
        return np.array([index.get(word, 0) for word in words], dtype="int32")

    def _add_table(self, vocabulary_size):
        self.table = self.add_weight(
            shape=(vocabulary_size + 1, self.dim), initializer="random_normal", name="table"
        )

    def build(self, input_shape=None):
        self._add_table(len(self.vocabulary))

    def call(self, ids):
        return keras.ops.take(self.table, ids, axis=0)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}

    # The table's size depends on the vocabulary: record it, so loading can build the layer
    # with the right shape before the weights are assigned.
    def get_build_config(self):
        return {"vocabulary_size": len(self.vocabulary)}

    def build_from_config(self, config):
        self._add_table(config["vocabulary_size"])
        self.built = True

    # Weights and the vocabulary, side by side in the layer's entry of model.weights.h5.
    def save_own_variables(self, store):
        store["table"] = self.table.numpy()
        store["vocabulary"] = np.frombuffer(json.dumps(self.vocabulary).encode(), dtype="uint8")

    def load_own_variables(self, store):
        self.table.assign(store["table"][...])
        self.vocabulary = json.loads(bytes(store["vocabulary"][...]).decode())
