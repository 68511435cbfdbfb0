"""Fuzzing every reader of untrusted files (hypothesis, bounded: well under a minute in all).

Readers: checkpoints, ANN and converted-model files, SHD/SSC HDF5, TOML training configs, hardware
profiles, NIR (``snnkit.ir.import_nir``) and netx (``snnkit.hardware.loihi.read_netx``). Inputs are
valid files with random byte damage, and files with a valid container but hostile content (code
names, pickled callables, huge declared sizes, NaN, wrong types). For every case:

* no code runs: a canary file that the hostile payloads would create never appears;
* no allocation above the cap: the process's peak RSS grows by less than ``RSS_CAP``;
* never a hang: each case runs under a ``CASE_TIMEOUT_S`` alarm;
* every failure is a documented error: InvalidFileError / SizeLimitError / ValueError / TypeError /
  FileNotFoundError (anything else is a "confusing" error);
* no silent garbage: what loads is what was written (content hash), or satisfies the reader's
  documented invariants;
* no data lost: a reader never modifies the file it reads.

The tally (the issue's table) is printed at the end of the module and written to
``$SNNKIT_FUZZ_REPORT`` when that is set.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import resource
import signal
import sys
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from snnkit._torchfile import content_hash
from snnkit.errors import InvalidFileError

CASE_TIMEOUT_S = 10
RSS_CAP = 512 * 2**20
DOCUMENTED = (InvalidFileError, ValueError, TypeError, FileNotFoundError)
FUZZ = settings(max_examples=int(os.environ.get("SNNKIT_FUZZ_EXAMPLES", "40")), deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck), database=None,
                phases=[Phase.explicit, Phase.generate])  # no shrinking: bounded time, honest counts
TALLY: Counter = Counter()
BY_READER: dict[str, Counter] = {}
CANARY_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / f"snnkit-fuzz-canary-{os.getpid()}"
CANARY = CANARY_DIR / "code-ran"


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"case ran over {CASE_TIMEOUT_S} s")


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


@pytest.fixture(scope="module", autouse=True)
def _report():
    CANARY_DIR.mkdir(parents=True, exist_ok=True)
    mod_dir = CANARY_DIR / "mods"
    mod_dir.mkdir(exist_ok=True)
    (mod_dir / "snnkit_fuzz_canary.py").write_text(
        f"import pathlib\ndef build(**kw):\n    pathlib.Path({str(CANARY)!r}).write_text('ran')\n")
    sys.path.insert(0, str(mod_dir))
    yield
    sys.path.remove(str(mod_dir))
    table = {k: TALLY[k] for k in ("attacks tried", "clear errors", "accepted intact", "confusing errors",
                                   "silent garbage", "hangs", "over the allocation cap", "code execution",
                                   "data lost")}
    table["by reader"] = {k: dict(v) for k, v in sorted(BY_READER.items())}
    print("\nfuzz tally: " + json.dumps(table, indent=1))
    if os.environ.get("SNNKIT_FUZZ_REPORT"):
        Path(os.environ["SNNKIT_FUZZ_REPORT"]).write_text(json.dumps(table, indent=1))


def attack(reader: str, path: Path, read, check_loaded=None, expected=DOCUMENTED) -> None:
    """Run ``read(path)`` as one attack and assert the properties in the module docstring."""
    TALLY["attacks tried"] += 1
    before = path.read_bytes() if path.is_file() else None
    rss = _peak_rss()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
    outcome, detail = "accepted intact", None
    try:
        loaded = read(path)
        signal.setitimer(signal.ITIMER_REAL, 0)
        if check_loaded is not None and not check_loaded(loaded):
            outcome = "silent garbage"
    except Hang as err:
        outcome, detail = "hangs", err
    except expected as err:
        outcome = "clear errors"
        detail = err
    except Exception as err:  # noqa: BLE001 - the point is to classify it
        outcome, detail = "confusing errors", err
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    TALLY[outcome] += 1
    BY_READER.setdefault(reader, Counter())[outcome] += 1
    if CANARY.exists():
        TALLY["code execution"] += 1
        CANARY.unlink()
        pytest.fail(f"{reader}: reading {path.name} ran code")
    if _peak_rss() - rss > RSS_CAP:
        TALLY["over the allocation cap"] += 1
        pytest.fail(f"{reader}: reading {path.name} grew the process by {(_peak_rss() - rss) >> 20} MiB")
    if before is not None and (not path.is_file() or path.read_bytes() != before):
        TALLY["data lost"] += 1
        pytest.fail(f"{reader}: reading {path.name} modified the file")
    if outcome == "clear errors" and isinstance(detail, InvalidFileError) and detail.field is not None:
        assert detail.path is None or Path(detail.path).name == path.name or path.name in str(detail)
    assert outcome in ("accepted intact", "clear errors"), f"{reader}: {outcome}: {type(detail).__name__}: {detail}"


# ------------------------------------------------------------------ strategies
damage = st.tuples(
    st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=0, max_size=6),  # overwrites
    st.one_of(st.none(), st.floats(0.0, 1.0)),  # truncate at this fraction
    st.binary(max_size=64))  # appended bytes


def damaged(original: bytes, spec) -> bytes:
    edits, cut, tail = spec
    data = bytearray(original)
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: int(len(data) * cut)]
    return bytes(data) + tail


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True),
                    st.text(max_size=20))
hostile_names = st.sampled_from(["snnkit_fuzz_canary:build", "subprocess:getoutput", "os:system",
                                 "builtins:eval", "mlp", "cnn1d", "../../mlp", ""])


def tensors():
    shapes = st.lists(st.integers(0, 6), max_size=3)
    dtypes = st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool, torch.float16, torch.uint8])
    return st.builds(lambda s, d: (torch.rand(s) * 4).to(d), shapes, dtypes)


values = st.recursive(st.one_of(scalars, tensors()),
                      lambda inner: st.one_of(st.lists(inner, max_size=4),
                                              st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


class _Payload:
    """Unpickling this would create the canary (a code-execution payload inside a .pt file)."""

    def __reduce__(self):
        return (Path(CANARY).write_text, ("ran",))


# ------------------------------------------------------------------ checkpoints and model files
@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    from snnkit import models
    from snnkit.conversion.architectures import mlp
    from snnkit.conversion.serialization import save_ann
    from snnkit.training import TrainerConfig, save_checkpoint

    folder = tmp_path_factory.mktemp("fuzz-valid")
    model = models.create("mlp", spiking=True, in_features=6, num_classes=3, steps=5, hidden=8)
    save_checkpoint(folder / "last.pt", {"model": {**models.spec(model), "state_dict": model.state_dict()},
                                         "data": {"name": "randman", "classes": 3, "channels": 6, "steps": 5},
                                         "position": {"epoch": 1, "batch_index": 0, "global_step": 2, "seed": 0},
                                         "trainer": {"config": TrainerConfig().to_dict()}})
    cfg = {"in_features": 6, "hidden": [5], "num_classes": 3}
    save_ann(mlp(**cfg), str(folder / "ann.pt"), "mlp", cfg)
    return folder


def _hash_of_checkpoint(path: Path) -> str:
    blob = torch.load(path, weights_only=True)
    return content_hash({k: v for k, v in blob.items() if k != "sha256"})


@FUZZ
@given(spec=damage)
def test_fuzz_checkpoint_bytes(tmp_path_factory, valid_files, spec):
    from snnkit.training import load_checkpoint
    original = (valid_files / "last.pt").read_bytes()
    path = tmp_path_factory.mktemp("ck") / "last.pt"
    path.write_bytes(damaged(original, spec))
    reference = _hash_of_checkpoint(valid_files / "last.pt")
    attack("checkpoint", path, load_checkpoint,
           check_loaded=lambda c: content_hash({k: v for k, v in c.items() if k != "sha256"}) == reference)


@FUZZ
@given(entries=st.dictionaries(st.sampled_from(["model", "data", "trainer", "position", "rng", "optimizer"]),
                               values, max_size=4),
       payload=st.booleans())
def test_fuzz_checkpoint_content_through_evaluate(tmp_path_factory, entries, payload):
    """Hostile but well-formed checkpoints go through ``snnkit evaluate`` (model, data and trainer entries)."""
    from snnkit.cli.cmd_evaluate import checkpoint_data
    from snnkit.models.build import model_from_checkpoint
    from snnkit.training import load_checkpoint
    path = tmp_path_factory.mktemp("ck") / "c.pt"
    blob = {"format": "snnkit-checkpoint", "version": 2, **entries}
    if payload:
        blob["evil"] = _Payload()
    blob["sha256"] = content_hash(blob) if not payload else "0"
    torch.save(blob, path)

    class Args:
        data_root, download, cache = str(path.parent / "data"), False, False

    def read(p):
        ckpt = load_checkpoint(p)
        model_from_checkpoint(ckpt, p)
        checkpoint_data(p, ckpt, Args)
        return ckpt

    attack("checkpoint-content", path, read)


@FUZZ
@given(arch=hostile_names, config=st.dictionaries(st.text(max_size=12), values, max_size=4),
       hidden=st.one_of(st.none(), st.lists(st.integers(-5, 10**7), max_size=3)), converted=st.booleans())
def test_fuzz_model_files(tmp_path_factory, arch, config, hidden, converted):
    from snnkit.conversion.architectures import mlp
    from snnkit.conversion.serialization import ANN_FORMAT, SNN_FORMAT, load_ann, load_converted
    if hidden is not None:
        config = {**config, "hidden": hidden}
    path = tmp_path_factory.mktemp("ann") / "m.pt"
    blob = {"format": SNN_FORMAT if converted else ANN_FORMAT, "architecture": arch, "config": config,
            "state_dict": mlp(in_features=6, hidden=[5], num_classes=3).state_dict()}
    if converted:
        blob.update(options={"T": 4, "normalisation": "max"}, input_shape=[6])
    torch.save(blob, path)
    attack("converted-model" if converted else "ann-model", path, load_converted if converted else load_ann)


@FUZZ
@given(spec=damage)
def test_fuzz_model_file_bytes(tmp_path_factory, valid_files, spec):
    from snnkit.conversion.serialization import load_ann
    path = tmp_path_factory.mktemp("ann") / "ann.pt"
    path.write_bytes(damaged((valid_files / "ann.pt").read_bytes(), spec))
    reference = load_ann(str(valid_files / "ann.pt")).state_dict()
    attack("ann-model", path, load_ann,
           check_loaded=lambda m: all(torch.equal(m.state_dict()[k], v) for k, v in reference.items()))


# ------------------------------------------------------------------ SHD / SSC HDF5
@FUZZ
@given(n=st.integers(0, 4), declared=st.sampled_from([None, (3, 10**11), (10**9,), (2, 7)]),
       labels=st.sampled_from(["uint16", "int64", "f4", "S3"]),
       times=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=5),
       units=st.lists(st.integers(-3, 2000), max_size=5), spec=st.one_of(st.none(), damage))
def test_fuzz_heidelberg_files(tmp_path_factory, n, declared, labels, times, units, spec):
    from snnkit.data import HeidelbergFile
    path = tmp_path_factory.mktemp("shd") / "shd_train.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("labels", data=np.zeros(n, dtype=labels) if labels != "S3" else np.array([b"a"] * n))
        if declared is None:
            t = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float32))
            u = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.int32))
            for i in range(n):
                t[i] = np.array(times, np.float32)
                u[i] = np.array(units[: len(times)] + [0] * (len(times) - len(units)), np.int32)
        else:
            for key, dt in (("spikes/times", "f4"), ("spikes/units", "i2")):
                f.create_dataset(key, declared, dtype=dt, chunks=True, compression="gzip")
    if spec is not None:
        path.write_bytes(damaged(path.read_bytes(), spec))

    def read(p):
        f = HeidelbergFile(p)
        out = [f.times_units(i) for i in range(len(f))]
        f.close()
        return out

    def sane(samples):
        return all(np.isfinite(t).all() and (t >= 0).all() and ((u >= 0) & (u < 700)).all() for t, u in samples)

    attack("shd-hdf5", path, read, check_loaded=sane)


# ------------------------------------------------------------------ TOML configs and profiles
toml_values = st.one_of(st.integers(-2**40, 2**40), st.floats(allow_nan=True, allow_infinity=True),
                        st.booleans(), st.text(max_size=10), st.lists(st.integers(-5, 10**7), max_size=3))


def _toml(tables: dict) -> str:
    def lit(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(lit(x) for x in v) + "]"
        return json.dumps(v) if isinstance(v, str) else str(v)
    lines = []
    for table, entries in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{json.dumps(k)} = {lit(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


@FUZZ
@given(model=st.dictionaries(st.sampled_from(["name", "hidden", "steps", "spiking", "in_features", "x"]),
                             toml_values, max_size=4),
       data=st.dictionaries(st.sampled_from(["name", "samples_per_class", "root", "train_split", "seed"]),
                            toml_values, max_size=3),
       trainer=st.dictionaries(st.sampled_from(["epochs", "lr", "batch_size", "device", "momentum", "mode",
                                                "schedule_options", "weight_decay"]), toml_values, max_size=4),
       spec=st.one_of(st.none(), damage))
def test_fuzz_training_configs(tmp_path_factory, model, data, trainer, spec):
    from snnkit.cli.cmd_train import load_config
    model.setdefault("name", "mlp")
    data.setdefault("name", "randman")
    text = _toml({"model": model, "data": data, "trainer": trainer}).encode()
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_bytes(damaged(text, spec) if spec is not None else text)

    def valid(cfg):
        from snnkit.models.build import MAX_MODEL_INT
        ints = [v for v in cfg["model"].values() if isinstance(v, int) and not isinstance(v, bool)]
        return all(0 <= v <= MAX_MODEL_INT for v in ints) and math.isfinite(cfg["trainer"].lr)

    attack("toml-config", path, load_config, check_loaded=valid)


@FUZZ
@given(section=st.sampled_from(["device", "tile", "mapping", "periphery", "bogus"]),
       key=st.sampled_from(["rows", "cols", "g_max", "levels", "prog_coeff", "read_noise_std", "adc_bits", "zzz"]),
       value=toml_values, spec=st.one_of(st.none(), damage))
def test_fuzz_hardware_profiles(tmp_path_factory, section, key, value, spec):
    from snnkit.hardware import profiles
    tables = {"device": {"model": "pcm", "g_max": 25.0}}
    tables.setdefault(section, {})[key] = value
    text = ('kind = "crossbar"\nname = "fuzz"\n' + _toml(tables)).encode()
    path = tmp_path_factory.mktemp("prof") / "p.toml"
    path.write_bytes(damaged(text, spec) if spec is not None else text)
    attack("hardware-profile", path, profiles.load)


# ------------------------------------------------------------------ NIR and netx (other helpers' readers)
@pytest.fixture(scope="module")
def interchange_files(tmp_path_factory):
    from snnkit import ir, models
    from snnkit.hardware.loihi.fixed_point import LoihiLayer
    from snnkit.hardware.loihi.netx import write_netx
    folder = tmp_path_factory.mktemp("fuzz-ir")
    model = models.create("mlp", spiking=True, in_features=4, num_classes=2, steps=5, hidden=3)
    ir.export_nir(model, str(folder / "m.nir"), extensions=True)
    rng = np.random.default_rng(0)
    write_netx([LoihiLayer(weights=rng.integers(-50, 50, (3, 4)), du=400, dv=300, vth=100)], folder / "m.net")
    return folder


@FUZZ
@given(spec=damage)
def test_fuzz_nir_bytes(tmp_path_factory, interchange_files, spec):
    from snnkit import ir
    path = tmp_path_factory.mktemp("nir") / "m.nir"
    path.write_bytes(damaged((interchange_files / "m.nir").read_bytes(), spec))
    attack("nir", path, lambda p: ir.import_nir(str(p)))


@FUZZ
@given(spec=st.one_of(st.none(), damage), vth=st.one_of(st.integers(-2**40, 2**40), st.floats(allow_nan=True)),
       delay=st.one_of(st.none(), st.floats(-10, 100), st.just(math.nan)), weight=st.floats(allow_nan=True))
def test_fuzz_netx(tmp_path_factory, interchange_files, spec, vth, delay, weight):
    from snnkit.hardware.loihi.netx import read_netx
    path = tmp_path_factory.mktemp("netx") / "m.net"
    path.write_bytes((interchange_files / "m.net").read_bytes())
    with h5py.File(path, "r+") as f:
        layer = f["layer"][sorted(f["layer"].keys(), key=int)[-1]]
        del layer["neuron"]["vThMant"]
        layer["neuron"]["vThMant"] = vth
        w = np.asarray(layer["weight"][()], dtype=np.float64)
        w.flat[0] = weight
        del layer["weight"]
        layer["weight"] = w
        if delay is not None:
            layer["delay"] = np.full(w.shape[0], delay)
    if spec is not None:
        path.write_bytes(damaged(path.read_bytes(), spec))

    def integral(layers):
        return all(float(L.vth).is_integer() and np.all(np.isfinite(L.weights)) for L in layers)

    attack("netx", path, read_netx, check_loaded=integral)


def test_atomic_write_interrupted_keeps_the_old_file(tmp_path):
    """Data lost? A write that fails half-way leaves the previous checkpoint intact and no temporary."""
    from snnkit.training import load_checkpoint, save_checkpoint
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"x": torch.arange(4.0)})
    TALLY["attacks tried"] += 1

    class Unsaveable:
        def __reduce__(self):
            raise OSError(28, "No space left on device")

    with pytest.raises(Exception):
        save_checkpoint(path, {"x": Unsaveable()})
    ok = torch.equal(load_checkpoint(path)["x"], torch.arange(4.0)) and sorted(os.listdir(tmp_path)) == ["last.pt"]
    TALLY["clear errors" if ok else "data lost"] += 1
    assert ok
    with contextlib.suppress(Exception):
        pickle.dumps(Unsaveable())


def test_a_foreign_pickle_protocol_byte_loads_without_torchs_advice(tmp_path):
    """A file whose pickle protocol byte is not torch.save's still loads weights-only (same tensors), and
    torch's warning asking the user to file an issue with torch is not passed on: the reader judges the
    file itself."""
    import warnings
    import zipfile

    from snnkit._torchfile import load_weights_only
    path = tmp_path / "a.pt"
    torch.save({"w": torch.arange(3.0)}, path)
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        h = next(i for i in zf.infolist() if i.filename.endswith("data.pkl")).header_offset
    start = h + 30 + int.from_bytes(raw[h + 26:h + 28], "little") + int.from_bytes(raw[h + 28:h + 30], "little")
    assert raw[start] == 0x80  # PROTO, then the protocol number
    raw[start + 1] = 172
    path.write_bytes(bytes(raw))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        loaded = load_weights_only(path)
    assert torch.equal(loaded["w"], torch.arange(3.0))
    assert not [w for w in seen if "pickle protocol" in str(w.message)]
