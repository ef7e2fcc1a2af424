"""Where an export runs (issue 26, a GPU when present): CUDA for the fp32 export where ONNX Runtime
has it, with TF32 off; the CPU otherwise and always for the int8 export."""

from __future__ import annotations

import pytest

from rag.embedding.onnx_session import execution_providers


def test_a_cuda_onnx_runtime_runs_the_fp32_export_on_the_gpu_without_tf32() -> None:
    got = execution_providers(["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], "fp32")
    assert got == [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]


@pytest.mark.parametrize("available,precision", [(["CPUExecutionProvider"], "fp32"),
                                                 (["CUDAExecutionProvider", "CPUExecutionProvider"], "int8"),
                                                 (["AzureExecutionProvider", "CPUExecutionProvider"], "fp32")])
def test_otherwise_the_cpu(available, precision) -> None:
    assert execution_providers(available, precision) == ["CPUExecutionProvider"]
