"""helpers.safety: a corpus of crafted, harmless malicious artifacts (notebook 12).

Every artifact of the corpus acts only on files under the test's temporary folder. The scanner
must flag each one (a finding above "info": 0 missed), must report nothing above "info" for what
the kit's notebooks write (0 false alarms), and the sandbox must contain each one it runs.
"""

from __future__ import annotations

import functools
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_sandbox_escapes import Listener

import helpers  # noqa: F401  (quiet TensorFlow first)
from helpers import safety
from helpers.errors import ArtifactError, ArtifactNotFoundError

WIDTH = 4
SECRET = b"API_KEY=not-a-real-key-0123456789abcdef"


# --- building blocks ------------------------------------------------------------------------


def honest_keras(folder: Path) -> Path:
    import keras

    inputs = keras.Input(shape=(WIDTH,), name="features")
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    path = folder / "honest.keras"
    model.save(path)
    return path


def rewrite_archive(
    source: Path, target: Path, *, replace: dict[str, bytes] | None = None,
    extra: dict[str, bytes] | None = None, compression: int = zipfile.ZIP_STORED,
) -> Path:  # fmt: skip
    replace, extra = replace or {}, extra or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", compression) as new:
        for name in old.namelist():
            new.writestr(name, replace.get(name, old.read(name)))
        for name, data in extra.items():
            info = zipfile.ZipInfo(name)  # kept as given: writestr(name) would clean it
            info.compress_type = compression
            new.writestr(info, data)
    return target


def edit_weights(folder: Path, name: str, edit: Callable[[h5py.File], None]) -> Path:
    """A copy of the honest archive whose model.weights.h5 went through ``edit``."""
    source = honest_keras(folder)
    weights = folder / f"{name}.weights.h5"
    weights.write_bytes(zipfile.ZipFile(source).read("model.weights.h5"))
    with h5py.File(weights, "a") as handle:
        edit(handle)
    return rewrite_archive(
        source, folder / f"{name}.keras", replace={"model.weights.h5": weights.read_bytes()}
    )


def edit_config(folder: Path, name: str, edit: Callable[[dict], None]) -> Path:
    source = honest_keras(folder)
    config = json.loads(zipfile.ZipFile(source).read("config.json"))
    edit(config)
    return rewrite_archive(
        source, folder / f"{name}.keras", replace={"config.json": json.dumps(config).encode()}
    )


def secret_file(folder: Path) -> Path:
    path = folder / "secret.txt"
    path.write_bytes(SECRET)
    return path


def dense_layer(config: dict) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")


# --- the corpus: each builder returns the artifact's path -----------------------------------


def zip_absolute_member(folder: Path) -> Path:
    return rewrite_archive(honest_keras(folder), folder / "abs.keras", extra={"/tmp/x.txt": b"x"})


def zip_dotdot_member(folder: Path) -> Path:
    extra = {"assets/../../escape.txt": b"x"}
    return rewrite_archive(honest_keras(folder), folder / "dotdot.keras", extra=extra)


def zip_unexpected_member(folder: Path) -> Path:
    extra = {"run_me.py": b"print('hello')\n"}
    return rewrite_archive(honest_keras(folder), folder / "extra.keras", extra=extra)


def zip_bomb_member(folder: Path) -> Path:
    extra = {"assets/zeros.bin": bytes(64 << 20)}  # 64 MiB of zeros: about 64 KiB deflated
    target = folder / "bomb.keras"
    return rewrite_archive(
        honest_keras(folder), target, extra=extra, compression=zipfile.ZIP_DEFLATED
    )


def config_lambda(folder: Path) -> Path:
    import keras

    inputs = keras.Input(shape=(WIDTH,), name="features")
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0, name="double")(inputs))
    model.save(folder / "lambda.keras")
    return folder / "lambda.keras"


@functools.cache
def loopback_listener() -> Listener:
    """One TCP listener on the host's loopback for the whole session: a payload that phones
    home dials it, and a contained payload never reaches it."""
    return Listener()


def config_lambda_socket(folder: Path) -> Path:
    """A Lambda that tries to connect to the host's loopback listener (safe_mode=False)."""
    import keras

    # A lambda is stored as bytecode; the port is a constant in it.
    address = ("127.0.0.1", loopback_listener().port)
    phone_home = eval(f"lambda x: (__import__('socket').create_connection({address!r}, 2), x)[1]")
    inputs = keras.Input(shape=(WIDTH,), name="features")
    model = keras.Model(
        inputs, keras.layers.Lambda(phone_home, output_shape=(WIDTH,), name="phone")(inputs)
    )
    model.save(folder / "socket.keras")
    return folder / "socket.keras"


def config_lambda_memory(folder: Path) -> Path:
    import keras

    hog = lambda x: (__import__("numpy").ones(1 << 33, dtype="uint8"), x)[1]  # noqa: E731  (8 GiB)
    inputs = keras.Input(shape=(WIDTH,), name="features")
    model = keras.Model(inputs, keras.layers.Lambda(hog, output_shape=(WIDTH,), name="hog")(inputs))
    model.save(folder / "hog.keras")
    return folder / "hog.keras"


def config_tfsmlayer(folder: Path) -> Path:
    def edit(config: dict) -> None:
        layer = dense_layer(config)
        layer["class_name"] = "TFSMLayer"
        layer["config"] = {"name": "dense", "filepath": "/srv/elsewhere", "call_endpoint": "serve"}

    return edit_config(folder, "tfsm", edit)


def config_foreign_function(folder: Path) -> Path:
    """CVE-2025-1550's shape: a config entry naming a function of any Python module."""

    def edit(config: dict) -> None:
        dense_layer(config)["config"]["activation"] = {
            "module": "os", "class_name": "function", "config": "getcwd", "registered_name": None,
        }  # fmt: skip

    return edit_config(folder, "foreign_function", edit)


def config_unsafe_switch(folder: Path) -> Path:
    """CVE-2025-9906's shape: a config that calls keras.config.enable_unsafe_deserialization."""

    def edit(config: dict) -> None:
        dense_layer(config)["config"]["activation"] = {
            "module": "keras.config", "class_name": "function",
            "config": "enable_unsafe_deserialization", "registered_name": None,
        }  # fmt: skip

    return edit_config(folder, "unsafe_switch", edit)


def config_unknown_class(folder: Path) -> Path:
    def edit(config: dict) -> None:
        layer = dense_layer(config)
        layer.update(module="evil_layers", class_name="Backdoor", registered_name="evil>Backdoor")

    return edit_config(folder, "unknown_class", edit)


def config_remote_vocabulary(folder: Path) -> Path:
    """CVE-2025-12058's shape: a StringLookup whose vocabulary is a URL."""

    def edit(config: dict) -> None:
        config["config"]["layers"].append(
            {"module": "keras.layers", "class_name": "StringLookup", "registered_name": None,
             "config": {"name": "lookup", "vocabulary": "https://example.invalid/vocab.txt"}}
        )  # fmt: skip

    return edit_config(folder, "remote_vocabulary", edit)


def weights_external_storage(folder: Path) -> Path:
    secret = secret_file(folder)

    def edit(handle: h5py.File) -> None:
        del handle["layers/dense/vars/0"]
        handle.create_dataset(
            "layers/dense/vars/0", shape=(WIDTH, 2), dtype="float32",
            external=[(str(secret), 0, WIDTH * 2 * 4)],
        )  # fmt: skip

    return edit_weights(folder, "external_storage", edit)


def weights_external_link(folder: Path) -> Path:
    other = folder / "other.h5"
    with h5py.File(other, "w") as handle:
        handle["kernel"] = np.zeros((WIDTH, 2), np.float32)

    def edit(handle: h5py.File) -> None:
        del handle["layers/dense/vars/0"]
        handle["layers/dense/vars/0"] = h5py.ExternalLink(str(other), "/kernel")

    return edit_weights(folder, "external_link", edit)


def weights_soft_link(folder: Path) -> Path:
    def edit(handle: h5py.File) -> None:
        handle["stolen"] = np.zeros((WIDTH, 2), np.float32)
        del handle["layers/dense/vars/0"]
        handle["layers/dense/vars/0"] = h5py.SoftLink("/stolen")

    return edit_weights(folder, "soft_link", edit)


def weights_virtual_dataset(folder: Path) -> Path:
    other = folder / "other_vds.h5"
    with h5py.File(other, "w") as handle:
        handle["kernel"] = np.zeros((WIDTH, 2), np.float32)

    def edit(handle: h5py.File) -> None:
        layout = h5py.VirtualLayout(shape=(WIDTH, 2), dtype="float32")
        layout[:] = h5py.VirtualSource(str(other), "kernel", shape=(WIDTH, 2))
        del handle["layers/dense/vars/0"]
        handle.create_virtual_dataset("layers/dense/vars/0", layout)

    return edit_weights(folder, "virtual_dataset", edit)


def weights_shape_bomb(folder: Path) -> Path:
    def edit(handle: h5py.File) -> None:
        del handle["layers/dense/vars/0"]
        handle.create_dataset(
            "layers/dense/vars/0", shape=(1 << 20, 1 << 12), dtype="float32",
            chunks=(1024, 1024), compression="gzip",
        )  # fmt: skip  # declares 16 GiB, stores nothing

    return edit_weights(folder, "shape_bomb", edit)


def weights_file_external_storage(folder: Path) -> Path:
    """A bare .weights.h5 (for ``model.load_weights``) with external storage."""
    path = weights_external_storage(folder)
    target = folder / "bare.weights.h5"
    target.write_bytes(zipfile.ZipFile(path).read("model.weights.h5"))
    return target


def legacy_h5_lambda(folder: Path) -> Path:
    """A legacy .h5 whose model_config attribute holds a Lambda (CVE-2025-9905's shape)."""
    config = json.loads(zipfile.ZipFile(config_lambda(folder)).read("config.json"))
    path = folder / "legacy.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
        handle.create_group("model_weights")
    return path


def savedmodel(
    folder: Path, name: str, serve_body: Callable, *, resource: Callable | None = None
) -> Path:
    import tensorflow as tf

    class Writer(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.int64, shape=[], shared_name="")

        def _initialize(self):
            resource()
            return tf.raw_ops.AssignVariableOp(
                resource=self.resource_handle, value=tf.constant(1, tf.int64)
            )

    class Gift(tf.Module):
        def __init__(self):
            super().__init__()
            if resource is not None:
                self.writer = Writer()

        @tf.function(input_signature=[tf.TensorSpec([None, WIDTH], tf.float32, name="x")])
        def serve(self, x):
            return {"y": serve_body(x)}

    gift = Gift()
    target = folder / name
    tf.saved_model.save(gift, str(target), signatures={"serving_default": gift.serve})
    return target


def savedmodel_write_on_call(folder: Path) -> Path:
    import tensorflow as tf

    out = str(folder / "written_on_call.txt")

    def body(x):
        tf.io.write_file(out, "ran")
        return x * 2.0

    return savedmodel(folder, "write_on_call", body)


def savedmodel_write_on_load(folder: Path) -> Path:
    import tensorflow as tf

    out = str(folder / "written_on_load.txt")
    return savedmodel(
        folder, "write_on_load", lambda x: x * 2.0, resource=lambda: tf.io.write_file(out, "loaded")
    )


def savedmodel_relative_write_on_load(folder: Path) -> Path:
    import tensorflow as tf

    return savedmodel(
        folder, "relative_write", lambda x: x, resource=lambda: tf.io.write_file("dropped.txt", "x")
    )


def savedmodel_read_secret(folder: Path) -> Path:
    import tensorflow as tf

    secret = str(secret_file(folder))

    def body(x):
        length = tf.strings.length(tf.io.read_file(secret))
        return x + tf.cast(length, tf.float32)

    return savedmodel(folder, "read_secret", body)


def savedmodel_print_to_file(folder: Path) -> Path:
    import tensorflow as tf

    target = f"file://{folder / 'printed.txt'}"

    def body(x):
        tf.print("inputs:", x, output_stream=target)
        return x

    return savedmodel(folder, "print_to_file", body)


def savedmodel_list_files(folder: Path) -> Path:
    import tensorflow as tf

    pattern = str(folder / "*")

    def body(x):
        count = tf.size(tf.io.matching_files(pattern))
        return x + tf.cast(count, tf.float32)

    return savedmodel(folder, "list_files", body)


def savedmodel_memory_bomb(folder: Path) -> Path:
    import tensorflow as tf

    def body(x):
        hog = tf.ones([1 << 16, 1 << 16], tf.float32)  # 16 GiB
        return x + tf.reduce_sum(hog)

    return savedmodel(folder, "memory_bomb", body)


def savedmodel_symlinked_variables(folder: Path) -> Path:
    import tensorflow as tf

    target = savedmodel(folder, "symlinked", lambda x: x + tf.constant(1.0))
    secret = secret_file(folder)
    for data in (target / "variables").glob("variables.data-*"):
        data.unlink()
        data.symlink_to(secret)
    return target


def checkpoint_escaping_state(folder: Path) -> Path:
    import tensorflow as tf

    ckpt_dir = folder / "ckpt_escape"
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(v=tf.Variable([1.0, 2.0])), str(ckpt_dir), max_to_keep=1
    )
    manager.save()
    (ckpt_dir / "checkpoint").write_text(
        'model_checkpoint_path: "../../elsewhere/ckpt-9"\n'
        'all_model_checkpoint_paths: "../../elsewhere/ckpt-9"\n'
    )
    return ckpt_dir


def checkpoint_declared_beyond_data(folder: Path) -> Path:
    import tensorflow as tf

    prefix = tf.train.Checkpoint(v=tf.Variable(tf.zeros([1 << 22]))).write(str(folder / "big"))
    for data in folder.glob("big.data-*"):
        data.write_bytes(b"")  # the index still declares 16 MiB of floats
    return Path(prefix)


# --- cases added with the allowlist scanner (issue 21) --------------------------------------


def savedmodel_saver_named_save(folder: Path) -> Path:
    """SaveV2 with a fixed prefix in a function named like TensorFlow's own saver."""
    import tensorflow as tf

    prefix = str(folder / "dropped_checkpoint")

    @tf.function
    def _traced_save(x):  # the concrete function is __inference__traced_save_N
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=["x"], shape_and_slices=[""], tensors=[x])
        return tf.constant(0.0)

    def body(x):
        _traced_save(x)
        return x

    return savedmodel(folder, "saver_named_save", body)


def savedmodel_restore_at_load(folder: Path) -> Path:
    """RestoreV2 run by a resource initializer: reads a checkpoint-shaped file while loading."""
    import tensorflow as tf

    prefix = str(folder / "elsewhere")

    def restore():
        tf.raw_ops.RestoreV2(
            prefix=prefix, tensor_names=["v"], shape_and_slices=[""], dtypes=[tf.float32]
        )

    return savedmodel(folder, "restore_at_load", lambda x: x, resource=restore)


def savedmodel_merge_at_load(folder: Path) -> Path:
    """MergeV2Checkpoints at load time: moves and deletes files named in the graph."""
    import tensorflow as tf

    sources, target = [str(folder / "a")], str(folder / "merged")

    def merge():
        tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=sources, destination_prefix=target)

    return savedmodel(folder, "merge_at_load", lambda x: x, resource=merge)


def savedmodel_tfrecord_dataset(folder: Path) -> Path:
    """A dataset op that reads a file when called."""
    import tensorflow as tf

    secret = str(secret_file(folder))

    def body(x):
        records = tf.data.TFRecordDataset(secret)
        length = records.reduce(tf.constant(0), lambda total, r: total + tf.strings.length(r))
        return x + tf.cast(length, tf.float32)

    return savedmodel(folder, "tfrecord_dataset", body)


def savedmodel_text_dataset_at_load(folder: Path) -> Path:
    """A text-line dataset read by a resource initializer."""
    import tensorflow as tf

    secret = str(secret_file(folder))

    def read():
        tf.data.TextLineDataset(secret).reduce(tf.constant(0), lambda total, _: total + 1)

    return savedmodel(folder, "text_dataset_at_load", lambda x: x, resource=read)


def savedmodel_dataset_save(folder: Path) -> Path:
    """Dataset.save in a signature: writes a folder of files when called."""
    import tensorflow as tf

    target = str(folder / "dataset_copy")

    def body(x):
        tf.data.Dataset.range(3).save(target)
        return x

    return savedmodel(folder, "dataset_save", body)


def savedmodel_pbtxt_only(folder: Path) -> Path:
    """The write-on-load model as saved_model.pbtxt: TensorFlow loads the text format too."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    target = savedmodel_write_on_load(folder)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((target / "saved_model.pb").read_bytes())
    (target / "saved_model.pbtxt").write_text(text_format.MessageToString(proto))
    (target / "saved_model.pb").unlink()
    return target


def savedmodel_chunked_only(folder: Path) -> Path:
    """Only a saved_model.cpb (the chunked format TensorFlow recognises): not inspectable."""
    target = folder / "chunked"
    target.mkdir()
    (target / "saved_model.cpb").write_bytes(b"\x00" * 64)
    return target


def savedmodel_with_keras_config(folder: Path) -> Path:
    """An honest export plus a config.json with a Lambda: keras.models.load_model(folder)
    reads the folder as a Keras model, tf.saved_model.load as a SavedModel."""
    import keras

    inputs = keras.Input(shape=(WIDTH,), name="features")
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    target = folder / "two_faced"
    model.export(target, verbose=False)
    (target / "config.json").write_bytes(zipfile.ZipFile(config_lambda(folder)).read("config.json"))
    return target


def polyglot_h5_zip(folder: Path) -> Path:
    """A legacy .h5 with a Lambda that is also a zip of an honest archive: a scanner that
    trusts the zip sees an honest model; Keras loads a .h5 as HDF5."""
    path = legacy_h5_lambda(folder)
    honest = honest_keras(folder).read_bytes()
    polyglot = folder / "polyglot.h5"
    polyglot.write_bytes(path.read_bytes() + honest)  # a zip is read from its end
    assert zipfile.is_zipfile(polyglot)
    return polyglot


def legacy_h5_user_block(folder: Path) -> Path:
    """A legacy .h5 with a Lambda behind a 512-byte user block: HDF5's signature at 512."""
    config = json.loads(zipfile.ZipFile(config_lambda(folder)).read("config.json"))
    path = folder / "user_block.h5"
    with h5py.File(path, "w", userblock_size=512) as handle:
        handle.attrs["model_config"] = json.dumps(config)
        handle.create_group("model_weights")
    return path


def config_local_vocabulary(folder: Path) -> Path:
    """An IntegerLookup (not StringLookup) whose vocabulary is a local file path."""
    secret = str(secret_file(folder))

    def edit(config: dict) -> None:
        config["config"]["layers"].append(
            {"module": "keras.layers", "class_name": "IntegerLookup",
             "config": {"name": "ids", "vocabulary": secret}, "registered_name": None}
        )  # fmt: skip

    return edit_config(folder, "local_vocabulary", edit)


def config_file_url_anywhere(folder: Path) -> Path:
    """A file:// URL in an ordinary Dense layer's config."""

    def edit(config: dict) -> None:
        dense_layer(config)["config"]["kernel_initializer"]["config"] = {"path": "file:///x"}

    return edit_config(folder, "file_url", edit)


def config_too_deep(folder: Path) -> Path:
    """A config nested 100,000 lists deep: Python's JSON parser hits its recursion limit."""
    deep = b"[" * 100_000 + b"]" * 100_000
    return rewrite_archive(
        honest_keras(folder), folder / "deep.keras", replace={"config.json": deep}
    )


def h5_config_too_deep(folder: Path) -> Path:
    """A legacy .h5 whose model_config attribute is nested too deeply to parse."""
    path = folder / "deep.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["model_config"] = "[" * 100_000 + "]" * 100_000
    return path


def zip_duplicate_config(folder: Path) -> Path:
    """config.json twice: an honest one first, a Lambda second (readers pick different ones)."""
    import warnings

    lambda_config = zipfile.ZipFile(config_lambda(folder)).read("config.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name", as intended
        return rewrite_archive(
            honest_keras(folder), folder / "twice.keras", extra={"config.json": lambda_config}
        )


def savedmodel_debug_op(folder: Path) -> Path:
    """DebugIdentityV2 writes tensors to a file:// folder: in no known-bad list, not ordinary."""
    import tensorflow as tf

    url = f"file://{folder / 'debug_dump'}"

    def body(x):
        return tf.raw_ops.DebugIdentityV2(input=x, debug_urls=[url])

    return savedmodel(folder, "debug_op", body)


def savedmodel_tile_bomb(folder: Path) -> Path:
    """Tile to 2**31 floats (8 GiB): an allocation through an op no bomb list names."""
    import tensorflow as tf

    return savedmodel(
        folder, "tile_bomb", lambda x: x + tf.reduce_sum(tf.tile(tf.ones([1]), [1 << 31]))
    )


def savedmodel_computed_shape_bomb(folder: Path) -> Path:
    """tf.zeros whose shape is computed (65,536 x 65,536 floats), not a constant input."""
    import tensorflow as tf

    def body(x):
        side = tf.constant(1 << 16) * tf.constant(1)
        return x + tf.reduce_sum(tf.zeros(tf.stack([side, side])))

    return savedmodel(folder, "computed_shape_bomb", body)


CORPUS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "zip_absolute_member": ("an archive member with an absolute name", zip_absolute_member),
    "zip_dotdot_member": ("an archive member whose name climbs out with ..", zip_dotdot_member),
    "zip_unexpected_member": ("a Python file packed beside the model", zip_unexpected_member),
    "zip_bomb_member": ("a member expanding about 1000x (64 MiB of zeros)", zip_bomb_member),
    "config_lambda": ("a Lambda layer (Python bytecode)", config_lambda),
    "config_lambda_socket": ("a Lambda that opens a network connection", config_lambda_socket),
    "config_lambda_memory": ("a Lambda that allocates 8 GiB", config_lambda_memory),
    "config_tfsmlayer": ("a TFSMLayer pointing at another SavedModel", config_tfsmlayer),
    "config_foreign_function": ("os.getcwd named as an activation", config_foreign_function),
    "config_unsafe_switch": ("names enable_unsafe_deserialization", config_unsafe_switch),
    "config_unknown_class": ("a class from a module outside Keras", config_unknown_class),
    "config_remote_vocabulary": ("a StringLookup with a URL vocabulary", config_remote_vocabulary),
    "weights_external_storage": ("a kernel stored in a 'secret' file", weights_external_storage),
    "weights_external_link": ("a kernel that is an HDF5 external link", weights_external_link),
    "weights_soft_link": ("a kernel that is an HDF5 soft link", weights_soft_link),
    "weights_virtual_dataset": ("a kernel mapped from another HDF5 file", weights_virtual_dataset),
    "weights_shape_bomb": ("a kernel declaring 16 GiB, storing nothing", weights_shape_bomb),
    "weights_file_external_storage": (
        "a bare weights file, external storage",
        weights_file_external_storage,
    ),
    "legacy_h5_lambda": ("a legacy .h5 whose model_config holds a Lambda", legacy_h5_lambda),
    "savedmodel_write_on_call": ("serving writes a file", savedmodel_write_on_call),
    "savedmodel_write_on_load": ("a resource initializer writes a file", savedmodel_write_on_load),
    "savedmodel_relative_write_on_load": (
        "writes to its working folder on load",
        savedmodel_relative_write_on_load,
    ),
    "savedmodel_read_secret": ("serving reads a 'secret' file", savedmodel_read_secret),
    "savedmodel_print_to_file": ("tf.print appends inputs to a file", savedmodel_print_to_file),
    "savedmodel_list_files": ("serving lists a folder", savedmodel_list_files),
    "savedmodel_memory_bomb": ("serving allocates 16 GiB", savedmodel_memory_bomb),
    "savedmodel_symlinked_variables": (
        "variables data symlinked to a secret",
        savedmodel_symlinked_variables,
    ),
    "checkpoint_escaping_state": (
        "checkpoint state points outside its folder",
        checkpoint_escaping_state,
    ),
    "checkpoint_declared_beyond_data": (
        "index declares 16 MiB, data holds 0",
        checkpoint_declared_beyond_data,
    ),
    "savedmodel_saver_named_save": (
        "SaveV2 in a function named like the saver",
        savedmodel_saver_named_save,
    ),
    "savedmodel_restore_at_load": ("RestoreV2 run while loading", savedmodel_restore_at_load),
    "savedmodel_merge_at_load": ("MergeV2Checkpoints run while loading", savedmodel_merge_at_load),
    "savedmodel_tfrecord_dataset": ("a TFRecordDataset reads a file", savedmodel_tfrecord_dataset),
    "savedmodel_text_dataset_at_load": (
        "a TextLineDataset read while loading",
        savedmodel_text_dataset_at_load,
    ),
    "savedmodel_dataset_save": ("Dataset.save writes files", savedmodel_dataset_save),
    "savedmodel_pbtxt_only": ("write-on-load as saved_model.pbtxt", savedmodel_pbtxt_only),
    "savedmodel_chunked_only": ("only a chunked saved_model.cpb", savedmodel_chunked_only),
    "savedmodel_with_keras_config": (
        "an export with a Lambda config.json",
        savedmodel_with_keras_config,
    ),
    "polyglot_h5_zip": ("a .h5 Lambda that is also an honest zip", polyglot_h5_zip),
    "legacy_h5_user_block": ("a .h5 Lambda behind a 512-byte user block", legacy_h5_user_block),
    "config_local_vocabulary": ("an IntegerLookup with a file vocabulary", config_local_vocabulary),
    "config_file_url_anywhere": ("file:// in a Dense layer's config", config_file_url_anywhere),
    "config_too_deep": ("config.json nested 100,000 deep", config_too_deep),
    "h5_config_too_deep": ("a .h5 model_config nested 100,000 deep", h5_config_too_deep),
    "zip_duplicate_config": ("config.json twice, the second a Lambda", zip_duplicate_config),
    "savedmodel_debug_op": ("DebugIdentityV2 dumps to a file:// folder", savedmodel_debug_op),
    "savedmodel_tile_bomb": ("Tile to 8 GiB", savedmodel_tile_bomb),
    "savedmodel_computed_shape_bomb": (
        "zeros of a computed 16 GiB shape",
        savedmodel_computed_shape_bomb,
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_scanner_flags_every_crafted_artifact(name, tmp_path):
    path = CORPUS[name][1](tmp_path)
    findings = safety.scan(path)
    assert safety.worst(findings) != "info", f"{name}: missed ({findings})"


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 48  # 29 before issue 21, 19 added with it


# --- 0 false alarms on what the kit's notebooks write ---------------------------------------


def kit_artifacts(folder: Path) -> dict[str, Path]:
    import keras
    import tensorflow as tf

    from helpers import custom_objects
    from helpers.kit import models

    model = models.digits_mlp()
    model(np.zeros((1, 64), np.float32))
    written = {"reference .keras": folder / "mlp.keras", "weights": folder / "mlp.weights.h5"}
    model.save(written["reference .keras"])
    model.save_weights(written["weights"])
    written["model.export"] = folder / "export"
    model.export(written["model.export"], verbose=False)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    manager = tf.train.CheckpointManager(checkpoint, str(folder / "ckpts"), max_to_keep=2)
    manager.save()
    written["CheckpointManager folder"] = folder / "ckpts"
    written["checkpoint prefix"] = Path(manager.save())
    resnet = custom_objects.digits_resnet(16, 1)
    written["custom .keras (allowed)"] = folder / "resnet.keras"
    resnet.save(written["custom .keras (allowed)"])
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(["a", "b"], [0, 1]), default_value=-1
    )
    module = tf.Module()
    module.table = table
    module.lookup = tf.function(
        lambda keys: table.lookup(keys), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    written["SavedModel with a lookup table"] = folder / "table"
    tf.saved_model.save(module, str(written["SavedModel with a lookup table"]))
    keras.backend.clear_session()
    return written


def test_no_false_alarms_on_the_kits_own_artifacts(tmp_path):
    for label, path in kit_artifacts(tmp_path).items():
        findings = safety.scan(path, allowed=["tf_saving_kit>"])
        assert safety.worst(findings) == "info", f"{label}: {[str(f) for f in findings]}"


def test_custom_classes_need_the_allow_list(tmp_path):
    from helpers import custom_objects

    path = tmp_path / "resnet.keras"
    custom_objects.digits_resnet(8, 1).save(path)
    assert safety.worst(safety.scan(path)) == "warning"
    assert safety.worst(safety.scan(path, allowed=["my_team>"])) == "warning"
    assert safety.worst(safety.scan(path, allowed=["tf_saving_kit>DigitsResNet"])) == "info"
    assert safety.worst(safety.scan(path, allowed=["tf_saving_kit>"])) == "info"


def test_scan_reports_what_it_does_not_know(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    assert "not inspected" in str(safety.scan(tmp_path / "notes.txt"))
    assert safety.worst(safety.scan(tmp_path / "notes.txt")) == "warning"
    assert safety.worst(safety.scan(tmp_path)) == "warning"  # an empty folder
    with pytest.raises(ArtifactNotFoundError, match="does not exist"):
        safety.scan(tmp_path / "missing.keras")


def test_findings_quote_a_location_whole(tmp_path):
    """A path cut short would hide where a file points, and would depend on the clone's folder."""
    honest = honest_keras(tmp_path)
    config = json.loads(zipfile.ZipFile(honest).read("config.json"))
    deep = "/" + "/".join(["a_long_folder_name"] * 20) + "/secret.txt"  # 400 characters
    huge = "/" + "x" * 5_000
    config["config"]["name"], config["config"]["trainable"] = deep, huge
    crafted = rewrite_archive(
        honest, tmp_path / "points_far.keras", replace={"config.json": json.dumps(config).encode()}
    )
    shown = "\n".join(str(finding) for finding in safety.scan(crafted))
    assert repr(deep) in shown
    assert huge[: safety.MAX_SHOWN] + "... (4001 more)" in shown and huge not in shown


def hostile_inputs(folder: Path) -> dict[str, Path]:
    """Garbage where the scanner expects structure: it must answer, never raise."""
    honest = honest_keras(folder).read_bytes()
    made = {}
    for name, data in {
        "random.keras": bytes(range(256)) * 64,
        "truncated.keras": honest[: len(honest) // 2],
        "truncated_zip_end.keras": honest[:-10],
        "random.h5": b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8,
        "empty.h5": b"",
    }.items():
        made[name] = folder / name
        made[name].write_bytes(data)
    made["garbage member"] = rewrite_archive(
        honest_keras(folder), folder / "garbage_member.keras",
        replace={"model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\xff" * 512,
                 "config.json": b"\xff\xfe{"},
    )  # fmt: skip
    for name, content in {"bad_pb": b"\xff" * 100, "bad_pbtxt": None}.items():
        target = folder / name
        target.mkdir()
        if content is None:
            (target / "saved_model.pbtxt").write_text("meta_graphs { nonsense")
        else:
            (target / "saved_model.pb").write_bytes(content)
        made[name] = target
    checkpoint = folder / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "x.index").write_bytes(b"\x00" * 40)
    made["bad checkpoint index"] = checkpoint
    return made


def test_scan_never_raises_on_hostile_input(tmp_path):
    for label, path in hostile_inputs(tmp_path).items():
        findings = safety.scan(path)  # would raise: the test fails with the traceback
        assert safety.worst(findings) != "info", f"{label}: {[str(f) for f in findings]}"


# --- the sandbox contains every artifact it runs --------------------------------------------

needs_sandbox = pytest.mark.skipif(
    safety.sandbox_unavailable() is not None, reason=f"{safety.sandbox_unavailable()}"
)


def test_sandbox_refuses_to_run_without_nsjail(tmp_path, monkeypatch):
    """No nsjail, no run: a clear error, and nothing started unconfined."""
    from helpers.kit import sandbox

    model = honest_keras(tmp_path)
    monkeypatch.setattr(sandbox, "nsjail_binary", lambda: None)
    monkeypatch.setattr(sandbox.runner, "run", lambda *a, **k: pytest.fail("ran"))
    monkeypatch.setattr(sandbox.runner, "start", lambda *a, **k: pytest.fail("started"))
    assert "nsjail binary is missing" in sandbox.sandbox_unavailable()
    with pytest.raises(safety.SandboxUnavailable, match="nsjail binary is missing"):
        safety.load_in_sandbox(model, INPUTS, workdir=tmp_path / "sandbox")
    assert not (tmp_path / "sandbox").exists()


def test_sandbox_says_what_the_machine_lacks(tmp_path, monkeypatch):
    """Where nsjail cannot build the jail (user namespaces off), its reason is the error."""
    from helpers.kit import sandbox

    missing = Path("/no/such/folder/for/the/probe")
    monkeypatch.setattr(sandbox, "_allowlist", lambda model: [(missing, missing)])
    reason = sandbox.sandbox_unavailable()
    assert reason is not None and reason.startswith("nsjail cannot build the sandbox here:")


INPUTS = np.ones((2, WIDTH), np.float32)
# What each runnable artifact would do outside, and how the sandbox must have contained it.
SANDBOXED = {
    "savedmodel_write_on_call": "Read-only file system",
    "savedmodel_write_on_load": "Read-only file system",
    "savedmodel_print_to_file": "Read-only file system|No such file",  # its folder is not there
    "savedmodel_relative_write_on_load": None,  # lands in scratch
    "savedmodel_memory_bomb": "MemoryError|killed|Cannot parse tensor",  # its 16 GiB constant
    "config_lambda_socket": "Network is unreachable",
    "config_lambda_memory": "MemoryError|killed",
    "config_lambda": "Lambda|safe_mode",  # refused under safe_mode=True
    "config_tfsmlayer": "TFSMLayer|safe_mode|unsafe",
    "weights_external_storage": "Not allowed",
    "weights_virtual_dataset": "Not allowed",
    "weights_shape_bomb": "Not allowed|bomb",
}


@needs_sandbox
@pytest.mark.parametrize("name", sorted(SANDBOXED))
def test_sandbox_contains(name, tmp_path):
    import re

    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    path = CORPUS[name][1](artifacts)
    before = sorted(p.relative_to(artifacts) for p in artifacts.rglob("*"))
    unsafe = name in ("config_lambda_socket", "config_lambda_memory")
    run = safety.load_in_sandbox(
        path, INPUTS, workdir=tmp_path / "sandbox", safe_mode=not unsafe, cpu_seconds=60
    )
    after = sorted(p.relative_to(artifacts) for p in artifacts.rglob("*"))
    assert after == before, f"{name} changed files outside the scratch folder"
    assert loopback_listener().connections == 0, f"{name} reached the host's loopback"
    expected = SANDBOXED[name]
    if expected is None:
        assert run.ok and run.written == ["dropped.txt"], run  # landed in scratch
    else:
        assert not run.ok and re.search(expected, run.error), run.error


@needs_sandbox
def test_sandbox_runs_an_honest_model_and_hides_home(tmp_path):
    path = honest_keras(tmp_path)
    run = safety.load_in_sandbox(path, INPUTS, workdir=tmp_path / "sandbox")
    assert run.ok and run.output.shape == (2, 2)
    import keras

    expected = keras.models.load_model(path)(INPUTS)
    np.testing.assert_array_equal(run.output, np.asarray(expected))


def test_sandbox_refuses_a_missing_model(tmp_path):
    if safety.sandbox_unavailable() is not None:
        with pytest.raises(safety.SandboxUnavailable):
            safety.load_in_sandbox(tmp_path / "nothing", INPUTS, workdir=tmp_path)
    else:
        with pytest.raises(ArtifactError, match="does not exist"):
            safety.load_in_sandbox(tmp_path / "nothing", INPUTS, workdir=tmp_path)


def test_notebook_12_shows_the_load_time_walk():
    """The function notebook 12 writes out is the one the scanner uses."""
    from nbsource import assert_same_code

    assert_same_code("12", safety.load_time_functions)


def test_committed_scanner_comparison_covers_the_corpus():
    """benchmarks/results/scanners.* (written by benchmarks/scanner_compare.py, which installs
    the peers and is never run here) name exactly this corpus's cases."""
    results_dir = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
    results = json.loads((results_dir / "scanners.json").read_text())
    crafted = {name for name, row in results["cases"].items() if row["malicious"]}
    assert crafted == set(CORPUS), sorted(crafted ^ set(CORPUS))
    table = (results_dir / "scanners.md").read_text()
    assert all(f"| {name} | crafted |" in table for name in CORPUS)
    assert set(results["totals"]) == {"kit", "modelscan", "modelaudit", "default loaders"}
