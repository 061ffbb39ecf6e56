"""annkit.export — deploy a trained segmentor outside PyTorch: ``to_onnx`` (the whole model, exact at any input
size) and ``compare`` (onnxruntime vs PyTorch, size by size). Needs the ``onnx`` extra: ``pip install annkit[onnx]``.
Taught in notebook 07.
"""

from annkit.export.check import compare, randomize_weights
from annkit.export.onnx import DeployedSegmentor, UnexportableError, check_exportable, to_onnx

__all__ = ["DeployedSegmentor", "UnexportableError", "check_exportable", "compare", "randomize_weights", "to_onnx"]
