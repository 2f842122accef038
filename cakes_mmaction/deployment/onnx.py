"""Export a recognizer (backbone + head) to ONNX and verify it.

The exported graph is ``clip -> backbone -> cls_head [-> softmax]`` with a
dynamic batch axis. mmaction2's data preprocessor is *not* part of it: the
input is a float clip ``(N, C, T, H, W)`` already normalised with the
config's mean and std, which are written into the model's metadata
(``metadata_props``: ``mean``, ``std``, ``input_layout`` ...).

The legacy TorchScript exporter of ``torch.onnx.export(..., dynamo=False)``
is used: it needs no package beyond ``onnx`` and handles the dynamic batch
axis through ``dynamic_axes``. Every export is checked with onnxruntime
against PyTorch on random clips, at the exported batch size and another.
"""
import json
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

__all__ = [
    'OnnxVerificationError', 'RecognizerForExport', 'ExportResult',
    'build_recognizer', 'export_onnx', 'verify_onnx',
    'export_recognizer_onnx'
]

INPUT_NAME = 'clip'
OUTPUT_NAME = 'scores'


class OnnxVerificationError(RuntimeError):
    """The exported model does not compute what the PyTorch model does."""


class RecognizerForExport(nn.Module):
    """The deployable part of a recognizer: backbone, head, softmax.

    Args:
        recognizer (nn.Module): An mmaction2 recognizer with ``backbone``
            and ``cls_head`` (a neck is not supported).
        softmax (bool): Append a softmax over classes. Defaults to False.
    """

    def __init__(self, recognizer: nn.Module, softmax: bool = False) -> None:
        super().__init__()
        if getattr(recognizer, 'with_neck', False):
            raise ValueError(
                f'{type(recognizer).__name__} has a neck; ONNX export '
                'supports backbone + cls_head recognizers only')
        self.backbone = recognizer.backbone
        self.cls_head = recognizer.cls_head
        self.softmax = softmax

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """Class scores of normalised clips ``(N, C, T, H, W)``."""
        scores = self.cls_head(self.backbone(clip))
        return scores.softmax(dim=-1) if self.softmax else scores


@dataclass
class ExportResult:
    """What :func:`export_recognizer_onnx` wrote and measured.

    Args:
        path (str): The ONNX file.
        shape (tuple[int, ...]): The exported input shape.
        checks (dict[int, tuple[float, float]]): Per batch size checked,
            max |ONNX - PyTorch| and the tolerance it had to meet.
        metadata (dict[str, str]): The model's ``metadata_props``.
    """

    path: str
    shape: Tuple[int, ...]
    checks: Dict[int, Tuple[float, float]] = field(default_factory=dict)
    metadata: Dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per checked batch size, then the file."""
        lines = [
            f'batch {n}: max abs diff ONNX vs PyTorch {diff:.3e} '
            f'(tolerance {limit:.3e})'
            for n, (diff, limit) in self.checks.items()
        ]
        lines.append(f'exported {self.path} (input {INPUT_NAME} '
                     f'{list(self.shape)}, batch axis dynamic)')
        return '\n'.join(lines)


def _check_shape(shape: Sequence[int]) -> Tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 5 or min(shape) < 1:
        raise ValueError(f'--shape must be 5 positive ints N C T H W, got '
                         f'{list(shape)}')
    return shape


def build_recognizer(config: Union[str, Any],
                     checkpoint: Optional[str] = None,
                     cfg_options: Optional[Mapping[str, Any]] = None
                     ) -> Tuple[nn.Module, Any]:
    """Build a recognizer from a config and load a checkpoint strictly.

    The checkpoint is read with the safe loader and checked against the
    model (``load_checked_checkpoint`` of
    :mod:`cakes_mmaction.checkpoints.fit`): exporting a half-loaded
    model would deploy random weights.

    Args:
        config (str | Config): Config file or object.
        checkpoint (str, optional): Checkpoint to load. Defaults to None.
        cfg_options (Mapping, optional): Overrides merged into the config.
            Defaults to None.

    Returns:
        tuple[nn.Module, Config]: The recognizer (eval mode), the config.
    """
    from mmaction.registry import MODELS
    from mmengine.config import Config

    from ..checkpoints.fit import load_checked_checkpoint
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        # Every weight, the config's architecture, assignment and class
        # count, finite values: one message naming file and config.
        load_checked_checkpoint(model, checkpoint, config=cfg.filename)
    model.eval()
    return model, cfg


def _silenced_export(module, clip, path, opset):
    with warnings.catch_warnings():
        # The legacy exporter announces its deprecation on every call.
        warnings.filterwarnings(
            'ignore', message='.*legacy TorchScript-based ONNX export.*')
        torch.onnx.export(
            module, (clip, ),
            path,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                INPUT_NAME: {0: 'batch'},
                OUTPUT_NAME: {0: 'batch'}
            },
            opset_version=opset,
            do_constant_folding=True)


def export_onnx(module: nn.Module,
                shape: Sequence[int],
                out: str,
                opset: int = 17,
                metadata: Optional[Mapping[str, Any]] = None) -> str:
    """Export ``module`` (one clip tensor in, scores out) to ONNX.

    Args:
        module (nn.Module): E.g. a :class:`RecognizerForExport`. Put in
            eval mode (and left there).
        shape (Sequence[int]): Example input ``(N, C, T, H, W)``; N becomes
            a dynamic axis.
        out (str): Output ``.onnx`` path.
        opset (int): ONNX opset. Defaults to 17.
        metadata (Mapping, optional): Written to ``metadata_props``
            (values JSON-encoded unless strings). Defaults to None.

    Returns:
        str: ``out``.
    """
    import onnx
    shape = _check_shape(shape)
    module.eval()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = f'{out}.tmp.{os.getpid()}.onnx'
    try:
        _silenced_export(module, torch.zeros(shape), tmp, opset)
        proto = onnx.load(tmp)
        for key, value in (metadata or {}).items():
            entry = proto.metadata_props.add()
            entry.key = str(key)
            entry.value = value if isinstance(value, str) else json.dumps(
                value)
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    module.eval()  # the exporter restores the mode it found
    return out


def verify_onnx(path: str,
                module: nn.Module,
                shape: Sequence[int],
                batch_sizes: Optional[Sequence[int]] = None,
                atol: float = 1e-4,
                rtol: float = 1e-4,
                seed: int = 0) -> Dict[int, Tuple[float, float]]:
    """Compare an ONNX model with PyTorch on random clips (onnxruntime).

    A batch size passes when ``max|onnx - torch| <= atol + rtol *
    max|torch|``.

    Args:
        path (str): The ONNX file.
        module (nn.Module): The PyTorch model it was exported from.
        shape (Sequence[int]): The exported input shape ``(N, C, T, H, W)``.
        batch_sizes (Sequence[int], optional): Batch sizes to check.
            Defaults to ``(N, N + 1)``, so the dynamic axis is exercised.
        atol (float): Absolute tolerance. Defaults to 1e-4.
        rtol (float): Tolerance relative to the largest PyTorch output.
            Defaults to 1e-4.
        seed (int): Seed of the random clips. Defaults to 0.

    Returns:
        dict[int, tuple[float, float]]: Per batch size, the max absolute
        difference and the tolerance it met.

    Raises:
        OnnxVerificationError: A batch size differs beyond the tolerance.
    """
    import onnxruntime as ort
    shape = _check_shape(shape)
    if batch_sizes is None:
        batch_sizes = (shape[0], shape[0] + 1)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    generator = torch.Generator().manual_seed(seed)
    module.eval()
    diffs = {}
    for n in batch_sizes:
        clip = torch.randn((n, ) + shape[1:], generator=generator)
        with torch.no_grad():
            expected = module(clip).numpy()
        got = session.run([OUTPUT_NAME], {INPUT_NAME: clip.numpy()})[0]
        if got.shape != expected.shape:
            raise OnnxVerificationError(
                f'{path}: batch {n} gives output shape {got.shape}, '
                f'PyTorch gives {expected.shape}')
        diff = float(abs(got - expected).max())
        limit = atol + rtol * float(abs(expected).max())
        diffs[n] = (diff, limit)
        if not diff <= limit:  # also catches NaN
            raise OnnxVerificationError(
                f'{path}: ONNX and PyTorch differ at batch {n}: max abs '
                f'diff {diff:.3e} > tolerance {limit:.3e} (atol {atol}, '
                f'rtol {rtol}); do not deploy this file')
    return diffs


def export_recognizer_onnx(config: str,
                           checkpoint: Optional[str],
                           shape: Sequence[int],
                           out: str,
                           softmax: bool = False,
                           opset: int = 17,
                           cfg_options: Optional[Mapping[str, Any]] = None,
                           atol: float = 1e-4,
                           rtol: float = 1e-4) -> ExportResult:
    """Config + checkpoint -> verified ONNX file.

    Args:
        config (str): Model config.
        checkpoint (str, optional): Checkpoint (mmengine format).
        shape (Sequence[int]): Input ``(N, C, T, H, W)``.
        out (str): Output ``.onnx`` path.
        softmax (bool): Output probabilities. Defaults to False (logits).
        opset (int): ONNX opset. Defaults to 17.
        cfg_options (Mapping, optional): Config overrides. Defaults to None.
        atol (float): See :func:`verify_onnx`. Defaults to 1e-4.
        rtol (float): See :func:`verify_onnx`. Defaults to 1e-4.

    Returns:
        ExportResult: The file, the measured differences, the metadata.
    """
    shape = _check_shape(shape)
    recognizer, cfg = build_recognizer(config, checkpoint, cfg_options)
    module = RecognizerForExport(recognizer, softmax=softmax).eval()
    preprocessor = cfg.model.get('data_preprocessor') or {}
    backbone = recognizer.backbone
    assignment = getattr(backbone, 'assignment', None)
    metadata = dict(
        producer='cakes_mmaction.deployment.onnx',
        config=os.path.basename(config),
        checkpoint=os.path.basename(checkpoint) if checkpoint else 'none',
        input_layout='NCTHW float32, normalised: (x - mean) / std',
        mean=list(preprocessor.get('mean') or []),
        std=list(preprocessor.get('std') or []),
        output='softmax probabilities' if softmax else 'logits',
        num_classes=int(recognizer.cls_head.num_classes),
        export_shape=list(shape))
    if assignment is not None:
        metadata['assignment'] = assignment.source or 'in-config'
    export_onnx(module, shape, out, opset=opset, metadata=metadata)
    try:
        checks = verify_onnx(out, module, shape, atol=atol, rtol=rtol)
    except OnnxVerificationError:
        os.replace(out, out + '.failed')  # never leave it deployable
        raise
    return ExportResult(
        out, shape, checks, {
            k: v if isinstance(v, str) else json.dumps(v)
            for k, v in metadata.items()
        })
