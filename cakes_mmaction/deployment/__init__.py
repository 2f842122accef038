"""Deployment: export recognizers to ONNX and verify them."""
from .onnx import (ExportResult, OnnxVerificationError, RecognizerForExport,
                   build_recognizer, export_onnx, export_recognizer_onnx,
                   verify_onnx)

__all__ = [
    'ExportResult', 'OnnxVerificationError', 'RecognizerForExport',
    'build_recognizer', 'export_onnx', 'export_recognizer_onnx',
    'verify_onnx'
]
