"""annkit.export — deploy a trained segmentor outside PyTorch: ``to_onnx`` (exact at any input size) and
``compare`` (onnxruntime vs PyTorch, size by size). Needs the ``onnx`` extra: ``pip install annkit[onnx]``.
"""

from annkit.export.onnx import DeployedSegmentor, UnexportableError, check_exportable, to_onnx

__all__ = ["DeployedSegmentor", "UnexportableError", "check_exportable", "to_onnx"]
