"""load_model checks the whole file before building anything: every damaged, foreign, truncated or
hostile file is a ValueError saying what is wrong, read with bounded memory; save names the
user's path, honours the umask and follows a symlink."""

import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

import nnkit as nk
from nnkit.layers import Dense


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A trained Adam model saved to disk: (path, its weights, its optimizer step count)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 3)), rng.integers(0, 2, 32)
    model = nk.Sequential([Dense(4, activation="tanh", input_dim=3), Dense(2, activation="softmax")],
                          dtype="float64", seed=0)
    model.compile(nk.optimizers.Adam(lr=0.01), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(X, y, epochs=2, batch_size=8, verbose=0, seed=0)
    path = tmp_path_factory.mktemp("saved") / "m.npz"
    model.save(path)
    return path, model.get_weights(), model.optimizer.iterations


def _arrays(path):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    config = json.loads(arrays.pop("__nnkit__").tobytes())
    return config, arrays


def _write(path, config, arrays, raw_config=None):
    meta = raw_config if raw_config is not None else json.dumps(config).encode()
    np.savez(path, __nnkit__=np.frombuffer(meta, dtype=np.uint8), **arrays)
    return path


def _edited(saved, tmp_path, edit_config=None, edit_arrays=None, raw_config=None):
    config, arrays = _arrays(saved[0])
    if edit_config:
        edit_config(config)
    if edit_arrays:
        edit_arrays(arrays)
    return _write(tmp_path / "edited.npz", config, arrays, raw_config)


def _assert_refused(path, match):
    with pytest.raises(ValueError, match=match) as info:
        nk.load_model(path)
    assert "pickle" not in str(info.value)
    return str(info.value)


CONFIG_EDITS = [
    ("metadata a list", lambda c: None, json.dumps([1, 2]).encode(), "config is a list"),
    ("metadata a string", lambda c: None, json.dumps("nnkit-model").encode(), "config is a str"),
    ("missing dtype", lambda c: c.pop("dtype"), None, "missing 'dtype'"),
    ("missing architecture", lambda c: c.pop("architecture"), None, "missing 'architecture'"),
    ("version 0", lambda c: c.update(version=0), None, "version 0"),
    ("version -7", lambda c: c.update(version=-7), None, "version -7"),
    ("version true", lambda c: c.update(version=True), None, "version True"),
    ("version a string", lambda c: c.update(version="1"), None, "version '1'"),
    ("dtype complex", lambda c: c.update(dtype="complex128"), None, "'dtype' is 'complex128'"),
    ("input_shape a string", lambda c: c.update(input_shape="3"), None, "'input_shape'"),
    ("n_weights negative", lambda c: c.update(n_weights=-1), None, "'n_weights'"),
    ("architecture a dict", lambda c: c.update(architecture={"class": "Dense"}), None, "'architecture'"),
    ("compile a list", lambda c: c.update(compile=[1]), None, "'compile'"),
    ("unknown optimizer key", lambda c: c["compile"]["optimizer"].update(momentum=0.9), None, "momentum"),
    ("unknown optimizer class", lambda c: c["compile"]["optimizer"].update({"class": "Evil"}), None, "Evil"),
    ("unknown loss", lambda c: c["compile"].update(loss="evil"), None, "loss"),
    ("unknown layer", lambda c: c["architecture"].append({"class": "Evil"}), None, "unknown layer class"),
    ("layer config a list", lambda c: c["architecture"][0].update(config=[1]), None, "damaged"),
    ("units a string", lambda c: c["architecture"][0]["config"].update(units="4"), None, "units"),
    ("10^12 units", lambda c: c["architecture"][0]["config"].update(units=10**12), None,
     "do not fit in this machine's memory"),
    ("10^6 units", lambda c: c["architecture"][0]["config"].update(units=10**6), None,
     "do not fit in the weights the file holds"),
    ("negative seed", lambda c: c.update(seed=-3), None, "'seed'"),
]


@pytest.mark.parametrize("case, edit, raw, match", CONFIG_EDITS, ids=[c[0] for c in CONFIG_EDITS])
def test_a_damaged_config_is_a_value_error_saying_what(saved, tmp_path, case, edit, raw, match):
    _assert_refused(_edited(saved, tmp_path, edit, raw_config=raw), match)


def _replace(key, value):
    return lambda arrays: arrays.update({key: value})


ARRAY_EDITS = [
    ("complex weights", _replace("w/0", np.ones((3, 4), np.complex128)), "complex128"),
    ("string weights", _replace("w/0", np.full((3, 4), "ab")), "<U2"),
    ("float32 weights in a float64 model", _replace("w/0", np.ones((3, 4), np.float32)), "float32"),
    ("NaN weights", _replace("w/1", np.full(4, np.nan)), "NaN or inf in w/1"),
    ("wrong shape", _replace("w/0", np.ones((4, 3))), "shape"),
    ("missing weight", lambda a: a.pop("w/2"), "lacks weight"),
    ("NaN Adam moment", _replace("opt/0/v", np.full((3, 4), np.nan)), "NaN or inf in opt/0/v"),
    ("negative Adam moment", _replace("opt/0/v", -np.ones((3, 4))), "negative"),
    ("iterations a vector", _replace("opt/iterations", np.arange(3)), "iterations"),
    ("iterations a float", _replace("opt/iterations", np.float64(3.5)), "iterations"),
    ("unknown state key", _replace("opt/0/zz", np.ones((3, 4))), "unexpected key"),
    ("extra entry", _replace("evil", np.ones(2)), "unexpected entry"),
]


@pytest.mark.parametrize("case, edit, match", ARRAY_EDITS, ids=[c[0] for c in ARRAY_EDITS])
def test_damaged_arrays_are_refused_before_building(saved, tmp_path, case, edit, match):
    _assert_refused(_edited(saved, tmp_path, edit_arrays=edit), match)


def _npy_header(shape, descr="<f8"):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def _zip_model(z, config, arrays=None):
    """Write a model's config entry and its arrays (as np.save writes them) into the open zip ``z``."""
    z.writestr("__nnkit__.npy", _npy_header((len(json.dumps(config)),), "|u1") + json.dumps(config).encode())
    for key, a in (arrays or {}).items():
        buf = io.BytesIO()
        np.save(buf, a)
        z.writestr(f"{key}.npy", buf.getvalue())


def test_a_header_declaring_1e11_elements_is_refused_without_allocating(saved, tmp_path):
    config, _ = _arrays(saved[0])
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as z:
        _zip_model(z, config)
        z.writestr("w/0.npy", _npy_header((100000, 1000000)) + b"\0" * 64)
    _assert_refused(path, r"declares shape \(100000, 1000000\)")


def test_a_zip_bomb_is_refused_with_bounded_memory(saved, tmp_path):
    config, arrays = _arrays(saved[0])
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        _zip_model(z, config, arrays)
        z.writestr("w/9.npy", _npy_header((2**27,)) + b"\0" * 2**30)  # 1 GiB of zeros in ~1 MiB
    assert os.path.getsize(path) < 4 * 2**20
    _assert_refused(path, "zip bomb")


def test_an_entry_that_inflates_beyond_its_declared_array_is_refused(saved, tmp_path):
    """The zip's record says 2 MiB; the deflate stream holds 64 MiB: reading stops at 2 MiB."""
    config, arrays = _arrays(saved[0])
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        _zip_model(z, config, arrays)
    data = bytearray(path.read_bytes())
    # rewrite w/0's declared sizes in its local header and the central directory to lie
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("w/0.npy")
    n = info.file_size
    for offset in [i for i in range(len(data) - 4) if data[i:i + 4] in (b"PK\x03\x04", b"PK\x01\x02")]:
        name_at = offset + (30 if data[offset:offset + 4] == b"PK\x03\x04" else 46)
        if bytes(data[name_at:name_at + 7]) == b"w/0.npy":
            size_at = offset + (22 if data[offset:offset + 4] == b"PK\x03\x04" else 24)
            assert struct.unpack("<I", data[size_at:size_at + 4])[0] == n
            data[size_at:size_at + 4] = struct.pack("<I", n - 8)
    path.write_bytes(bytes(data))
    _assert_refused(path, "w/0")


def test_an_encrypted_entry_is_refused(saved, tmp_path):
    data = bytearray(saved[0].read_bytes())
    for offset in [i for i in range(len(data) - 4) if data[i:i + 4] == b"PK\x01\x02"]:
        data[offset + 8] |= 0x1  # the general-purpose flag's "encrypted" bit
    path = tmp_path / "encrypted.npz"
    path.write_bytes(bytes(data))
    _assert_refused(path, "encrypted")


def test_foreign_files(saved, tmp_path):
    np.save(tmp_path / "plain.npy", np.ones(3))
    _assert_refused(tmp_path / "plain.npy", "plain .npy array")
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)) * 8)
    _assert_refused(tmp_path / "junk.bin", "not a zip archive")
    np.savez(tmp_path / "other.npz", a=np.ones(3))
    _assert_refused(tmp_path / "other.npz", "not an nnkit model file")
    np.savez(tmp_path / "objects.npz", __nnkit__=np.array([object()], dtype=object))
    _assert_refused(tmp_path / "objects.npz", "dtype object")
    with pytest.raises(ValueError, match="directory"):
        nk.load_model(tmp_path)


def test_fuzz_flipped_bytes_and_truncations_give_the_weights_or_a_value_error(saved, tmp_path):
    """Seeded: 300 single-byte flips anywhere in the file and 100 truncations at random offsets."""
    path, weights, iterations = saved
    data = path.read_bytes()
    rng = np.random.default_rng(2024)
    outcomes = {"same": 0, "refused": 0}
    cases = [("flip", int(i), int(rng.integers(1, 256))) for i in rng.integers(0, len(data), 300)]
    cases += [("cut", int(i), 0) for i in rng.integers(0, len(data), 100)]
    target = tmp_path / "fuzzed.npz"
    for kind, offset, mask in cases:
        damaged = bytearray(data)
        if kind == "flip":
            damaged[offset] ^= mask
        else:
            damaged = damaged[:offset]
        target.write_bytes(bytes(damaged))
        try:
            model = nk.load_model(target)
        except ValueError as exc:
            assert "pickle" not in str(exc)
            outcomes["refused"] += 1
            continue
        # a flip the file cannot notice (a zip field nothing reads, say) must change nothing
        for a, b in zip(weights, model.get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=f"{kind} at {offset}")
        assert model.optimizer.iterations == iterations
        outcomes["same"] += 1
    assert outcomes["refused"] > 300  # nearly every change is noticed (the CRC covers the data)
    assert sum(outcomes.values()) == 400


def test_save_names_the_users_path_honours_the_umask_and_follows_a_symlink(saved, tmp_path):
    model = nk.load_model(saved[0])
    missing = tmp_path / "no_such_dir" / "m.npz"
    with pytest.raises(FileNotFoundError) as info:
        model.save(missing)
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)
    old = os.umask(0o027)
    try:
        model.save(tmp_path / "masked.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "masked.npz").stat().st_mode & 0o777 == 0o640
    target = tmp_path / "real.npz"
    target.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(nk.load_model(target).get_weights()[0], saved[1][0])


def test_save_refuses_a_diverged_model_and_names_the_path(saved, tmp_path):
    model = nk.load_model(saved[0])
    model.parameters()[0].value[0, 0] = np.nan
    with pytest.raises(ValueError, match="not all finite.*diverged.*bad.npz"):
        model.save(tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()
