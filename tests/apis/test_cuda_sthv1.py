"""The paper's SthV1 config trains a few AMP steps on the GPU, on tiny
generated data in the SthV1 rawframe layout (the gpu_check data)."""
import math

import pytest
import torch

from cakes_mmaction.analysis.gpu_check import (PAPER_CONFIG, ROOT,
                                               tiny_data_options)
from cakes_mmaction.harness.apis import build_train_cfg, train

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason='needs a CUDA device'),
]


def test_amp_training_steps_of_the_sthv1_config(tmp_path):
    config = f'{ROOT}/{PAPER_CONFIG}'
    options = tiny_data_options(config, str(tmp_path / 'data'), epochs=1)
    cfg = build_train_cfg(config, work_dir=str(tmp_path / 'work'), amp=True,
                          no_validate=True, cfg_options=options)
    runner = train(cfg)
    wrapper = runner.optim_wrapper
    assert type(wrapper).__name__ == 'AmpOptimWrapper'
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else \
        torch.float16
    assert wrapper.cast_dtype == expected
    assert runner.iter > 0
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss)
    param = next(p for p in runner.model.parameters() if p.dim() == 5)
    assert param.is_cuda and param.is_contiguous(
        memory_format=torch.channels_last_3d)
