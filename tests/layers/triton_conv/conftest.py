"""Where no CUDA device exists, the triton kernels run interpreted on CPU.

Triton reads ``TRITON_INTERPRET`` when a kernel is defined, i.e. when
:mod:`cakes_mmaction.layers.triton_conv.kernels` is first imported (on
the first launch); pytest collects this file before any test runs, so
setting it here is early enough. With a CUDA device the kernels compile
and the same tests run on it.
"""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
