"""helpers.safety: a corpus of crafted, harmless malicious artifacts (notebook 12).

Every artifact of the corpus acts only on files under the test's temporary folder. The scanner
must flag each one (a finding above "info": 0 missed), must report nothing above "info" for what
the kit's notebooks write (0 false alarms), and the sandbox must contain each one it runs.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import helpers  # noqa: F401  (quiet TensorFlow first)
from helpers import safety

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


def config_lambda_socket(folder: Path) -> Path:
    """A Lambda that tries to connect out while the model runs (loaded with safe_mode=False)."""
    import keras

    # A lambda is stored as bytecode (a named function only by name); 192.0.2.1 is TEST-NET-1.
    phone_home = lambda x: (__import__("socket").create_connection(("192.0.2.1", 80), 2), x)[1]  # noqa: E731
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
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_scanner_flags_every_crafted_artifact(name, tmp_path):
    path = CORPUS[name][1](tmp_path)
    findings = safety.scan(path)
    assert safety.worst(findings) != "info", f"{name}: missed ({findings})"


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 20


# --- 0 false alarms on what the kit's notebooks write ---------------------------------------


def kit_artifacts(folder: Path) -> dict[str, Path]:
    import keras
    import tensorflow as tf

    from helpers import custom_objects, models

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


def test_scan_refuses_what_it_does_not_know(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(safety.ArtifactError, match=r"not a \.keras archive"):
        safety.scan(tmp_path / "notes.txt")
    with pytest.raises(safety.ArtifactError, match="does not exist"):
        safety.scan(tmp_path / "missing.keras")
    with pytest.raises(safety.ArtifactError, match="neither a SavedModel"):
        safety.scan(tmp_path)


# --- the sandbox contains every artifact it runs --------------------------------------------

needs_sandbox = pytest.mark.skipif(
    safety.sandbox_unavailable() is not None, reason="no namespaces here"
)
INPUTS = np.ones((2, WIDTH), np.float32)
# What each runnable artifact would do outside, and how the sandbox must have contained it.
SANDBOXED = {
    "savedmodel_write_on_call": "Read-only file system",
    "savedmodel_write_on_load": "Read-only file system",
    "savedmodel_print_to_file": "Read-only file system",
    "savedmodel_relative_write_on_load": None,  # lands in scratch
    "savedmodel_memory_bomb": "MemoryError|killed|Cannot parse tensor",  # its 16 GiB constant
    "config_lambda_socket": "Network is unreachable|OSError",
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
    expected = SANDBOXED[name]
    if expected is None:
        assert run.ok and run.written == ["dropped.txt"], run  # landed in scratch
    else:
        assert not run.ok and re.search(expected, run.error), run.error


@needs_sandbox
def test_sandbox_runs_an_honest_model_and_hides_home(tmp_path):
    path = honest_keras(tmp_path)
    run = safety.load_in_sandbox(path, INPUTS, workdir=tmp_path / "sandbox")
    assert run.ok and run.outputs.shape == (2, 2)
    import keras

    expected = keras.models.load_model(path)(INPUTS)
    np.testing.assert_array_equal(run.outputs, np.asarray(expected))


def test_sandbox_refuses_a_missing_model(tmp_path):
    if safety.sandbox_unavailable() is not None:
        with pytest.raises(safety.SandboxUnavailable):
            safety.load_in_sandbox(tmp_path / "nothing", INPUTS, workdir=tmp_path)
    else:
        with pytest.raises(safety.ArtifactError, match="does not exist"):
            safety.load_in_sandbox(tmp_path / "nothing", INPUTS, workdir=tmp_path)


def test_notebook_12_shows_the_load_time_walk():
    """The function notebook 12 writes out is the one the scanner uses."""
    from nbsource import assert_same_code

    assert_same_code("12", safety.load_time_functions)


@needs_sandbox
def test_sandbox_hides_the_home_folder(tmp_path, monkeypatch):
    """A model counting the entries of the home folder sees none in the sandbox."""
    import os

    import keras

    # A home folder with entries to hide (the test suite's own HOME is an empty throwaway).
    home = tmp_path / "home"
    for name in (".ssh", ".config", "notes"):
        (home / name).mkdir(parents=True)
    (home / "secret.txt").write_text("not for models")
    monkeypatch.setenv("HOME", str(home))
    assert Path.home().resolve() == home.resolve()
    home = home.resolve()
    count = eval(f"lambda x: x * 0.0 + float(len(__import__('os').listdir({str(home)!r})))")
    inputs = keras.Input(shape=(WIDTH,), name="features")
    layer = keras.layers.Lambda(count, output_shape=(WIDTH,), name="count")
    keras.Model(inputs, layer(inputs)).save(tmp_path / "count.keras")
    run = safety.load_in_sandbox(
        tmp_path / "count.keras", INPUTS, workdir=tmp_path / "sandbox", safe_mode=False
    )
    assert run.ok, run.error
    # Inside, only the folders the child needs (the Python installation, when it lives there).
    assert run.outputs.max() < len(os.listdir(home)), (run.outputs.max(), os.listdir(home))
