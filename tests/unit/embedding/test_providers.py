"""The encoder runs on a GPU where onnxruntime offers one, and on the CPU otherwise."""

from __future__ import annotations

import onnxruntime as ort

from appliance.embedding.encoder import Encoder, providers


def test_cuda_first_when_offered_and_the_cpu_always_last() -> None:
    offered = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers(offered) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert providers([]) == ["CPUExecutionProvider"]


def test_this_box_reports_the_device_it_really_uses() -> None:
    encoder = Encoder(threads=1)
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    assert encoder.device == ("cuda" if has_cuda else "cpu")
    assert encoder.encode(["hello"]).shape == (1, 384)


def test_an_encoder_told_cpu_never_takes_the_gpu() -> None:
    encoder = Encoder(threads=1, device="cpu")
    assert encoder.device == "cpu"
    assert encoder._session.get_providers() == ["CPUExecutionProvider"]
