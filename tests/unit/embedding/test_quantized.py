"""The int8 encoder build: made once from the packaged weights, checked against the reference
vectors, refused (fp32 then) when it does not match; a text's vector never depends on what
it was batched with."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from appliance.embedding import quantized
from appliance.embedding.encoder import Encoder, default_model_path


def encode_with(model: Path, texts: list[str]) -> np.ndarray:
    return Encoder(model, threads=1, device="cpu", alone=True).encode(texts)


def test_the_build_matches_the_reference_and_is_made_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = quantized.int8_model(default_model_path(), encode_with)
    assert built is not None and built.parent == tmp_path / "appliance" / "encoder"
    assert (built.parent.stat().st_mode & 0o777) == 0o700
    assert quantized._agreement(built, encode_with) > 0.9999
    stamp = built.stat().st_mtime_ns
    assert quantized.int8_model(default_model_path(), encode_with) == built
    assert built.stat().st_mtime_ns == stamp  # reused, not built again
    assert [p.name for p in built.parent.iterdir()] == [built.name]  # no scratch left


def test_a_build_that_differs_from_the_reference_is_refused_and_fp32_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a quantiser that rounds differently would: the check catches it before the cache
    compares vectors from a model it was never judged on."""
    reference = json.loads(quantized.REFERENCE.read_text())
    reference["vectors"] = [list(-np.asarray(v)) for v in reference["vectors"]]
    fake = tmp_path / "reference.json"
    fake.write_text(json.dumps(reference))
    monkeypatch.setattr(quantized, "REFERENCE", fake)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert quantized.int8_model(default_model_path(), encode_with) is None
    assert list((tmp_path / "cache" / "appliance" / "encoder").iterdir()) == []
    encoder = Encoder(threads=1)
    assert encoder.precision == "fp32" and encoder._files[0] == default_model_path()


def test_an_int8_vector_does_not_depend_on_its_batch() -> None:
    """The int8 model quantises activations with one scale per run: batched, a text's vector
    would move with its neighbours. Each text runs alone, so it never does."""
    encoder = Encoder(threads=2)
    assert encoder.precision == "int8"
    texts = ["hi", "What is the capital of France?", "word " * 200, "Order #48213 is late"]
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    assert np.array_equal(encoder.encode(texts), alone)
    assert np.array_equal(encoder.encode(texts[::-1]), alone[::-1])


def test_the_precisions_are_told_apart_by_identity() -> None:
    int8, fp32 = Encoder(threads=1), Encoder(threads=1, precision="fp32")
    assert (int8.precision, fp32.precision) == ("int8", "fp32")
    assert int8.identity != fp32.identity
    cosine = np.sum(int8.encode(["hello there"]) * fp32.encode(["hello there"]))
    assert 0.9 < cosine < 0.9999


def test_a_build_abandoned_by_a_killed_start_is_cleaned_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    directory = tmp_path / "appliance" / "encoder"
    directory.mkdir(parents=True)
    old, young = directory / "old.onnx.part", directory / "young.onnx.part"
    old.write_bytes(b"half a model")
    young.write_bytes(b"another start's build in progress")
    os.utime(old, (0, 0))
    assert quantized.int8_model(default_model_path(), encode_with) is not None
    assert not old.exists() and young.exists()
