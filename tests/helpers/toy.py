"""A tiny model, dataset and metric for Runner-level tests of the engine.

Importing this module registers ``ToyRecognizer`` (MODELS),
``ToyDataset`` (DATASETS), ``ToyAccuracy`` (METRICS) and ``SelfKillHook``
(HOOKS) in mmaction2's registries. The model has dropout and the dataset
adds NumPy noise, so resumed runs only match uninterrupted ones when every
random state is restored.
"""
import os
import signal
import time
import uuid
from typing import Any, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import DATASETS, HOOKS, METRICS, MODELS
from mmengine.config import Config
from mmengine.dist import get_rank
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel

__all__ = [
    'ToyRecognizer', 'ToyDataset', 'ToyAccuracy', 'SelfKillHook', 'toy_config'
]


@MODELS.register_module(force=True)
class ToyRecognizer(BaseModel):
    """Two linear layers with dropout.

    Args:
        in_features (int): Input size. Defaults to 8.
        num_classes (int): Classes. Defaults to 2.
        dropout (float): Dropout ratio. Defaults to 0.5.
        ballast (int): Size of an extra buffer, to make checkpoints large
            (slow to write). Defaults to 0.
    """

    def __init__(self,
                 in_features: int = 8,
                 num_classes: int = 2,
                 dropout: float = 0.5,
                 ballast: int = 0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, 16)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(16, num_classes)
        if ballast:
            self.register_buffer('ballast', torch.rand(ballast))

    def forward(self,
                inputs: List[torch.Tensor],
                data_samples: Optional[List[torch.Tensor]] = None,
                mode: str = 'tensor') -> Any:
        x = torch.stack(list(inputs)).float()
        logits = self.fc2(self.drop(F.relu(self.fc1(x))))
        if mode == 'tensor':
            return logits
        labels = torch.stack(list(data_samples)).long()
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        return [
            dict(pred=int(p), gt=int(g))
            for p, g in zip(logits.argmax(1), labels)
        ]


@DATASETS.register_module(force=True)
class ToyDataset(torch.utils.data.Dataset):
    """Linearly separable points with NumPy noise added on every access.

    Args:
        size (int): Samples. Defaults to 16.
        in_features (int): Features. Defaults to 8.
        noise (float): Std of the noise added per access. Defaults to 0.1.
        seed (int): Seed of the fixed points. Defaults to 0.
    """

    metainfo = dict(classes=('a', 'b'))

    def __init__(self,
                 size: int = 16,
                 in_features: int = 8,
                 noise: float = 0.1,
                 seed: int = 0) -> None:
        rng = np.random.RandomState(seed)
        self.x = rng.randn(size, in_features).astype(np.float32)
        self.y = (self.x[:, 0] > 0).astype(np.int64)
        self.noise = noise

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict:
        x = self.x[index] + self.noise * np.random.randn(self.x.shape[1])
        return dict(
            inputs=torch.from_numpy(x.astype(np.float32)),
            data_samples=torch.tensor(self.y[index]))


@METRICS.register_module(force=True)
class ToyAccuracy(BaseMetric):
    """Top-1 accuracy of :class:`ToyRecognizer` predictions, and a stamp."""

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            self.results.append(sample['pred'] == sample['gt'])

    def compute_metrics(self, results: list) -> dict:
        # ``stamp`` always improves, so ``save_best='stamp'`` replaces (and
        # deletes) the previous best checkpoint after every validation.
        return dict(acc=float(np.mean(results)), stamp=time.time())


@HOOKS.register_module(force=True)
class SelfKillHook(Hook):
    """Kill this process with a signal after a given training iteration.

    Args:
        after_iter (int): 1-based global iteration after which to die.
        rank (int, optional): Only this rank dies. Defaults to None (any).
        sig (str): Signal name. Defaults to ``'SIGKILL'``.
    """

    def __init__(self,
                 after_iter: int,
                 rank: Optional[int] = None,
                 sig: str = 'SIGKILL') -> None:
        self.after_iter = after_iter
        self.rank = rank
        self.sig = getattr(signal, sig)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        if runner.iter + 1 != self.after_iter:
            return
        if self.rank is None or self.rank == get_rank():
            os.kill(os.getpid(), self.sig)


def toy_config(work_dir: str,
               max_epochs: int = 4,
               size: int = 16,
               batch_size: int = 4,
               checkpoint: Optional[dict] = None,
               ballast: int = 0,
               seed: int = 0,
               **extra) -> Config:
    """A complete config training :class:`ToyRecognizer`.

    Args:
        work_dir (str): Work dir.
        max_epochs (int): Epochs. Defaults to 4.
        size (int): Training samples. Defaults to 16.
        batch_size (int): Defaults to 4.
        checkpoint (dict, optional): The ``default_hooks.checkpoint`` dict.
            Defaults to an AtomicCheckpointHook every epoch keeping the best
            accuracy.
        ballast (int): See :class:`ToyRecognizer`. Defaults to 0.
        seed (int): ``randomness.seed`` (deterministic mode is on).
            Defaults to 0.
        **extra: Top-level keys to add or replace.

    Returns:
        Config: The config.
    """
    loader = dict(
        batch_size=batch_size, num_workers=0, persistent_workers=False)
    cfg = dict(
        default_scope='mmaction',
        work_dir=work_dir,
        experiment_name=f'toy_{uuid.uuid4().hex[:12]}',
        model=dict(type='ToyRecognizer', ballast=ballast),
        train_dataloader=dict(
            dataset=dict(type='ToyDataset', size=size),
            sampler=dict(type='DefaultSampler', shuffle=True),
            **loader),
        val_dataloader=dict(
            dataset=dict(type='ToyDataset', size=8, noise=0.0, seed=1),
            sampler=dict(type='DefaultSampler', shuffle=False),
            **loader),
        val_evaluator=dict(type='ToyAccuracy'),
        val_cfg=dict(),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=[
            dict(type='MultiStepLR', milestones=[2], by_epoch=True)
        ],
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=1),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=checkpoint or dict(
                type='AtomicCheckpointHook',
                interval=1,
                save_best='acc',
                rule='greater'),
            sampler_seed=dict(type='DistSamplerSeedHook')),
        env_cfg=dict(
            cudnn_benchmark=False,
            mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
            dist_cfg=dict(backend='gloo')),
        randomness=dict(seed=seed, deterministic=True),
        log_level='WARNING',
        visualizer=dict(
            type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]),
        load_from=None,
        resume=False)
    cfg.update(extra)
    return Config(cfg)
