# A tiny CAKES ResNet trained on CPU on the synthetic temporal-reasoning
# dataset: ResNet-18's basic blocks, 3 stages of one block each, widths
# 16/32/64, every 3x3 conv a CAKES layer with its output channels split
# evenly over 3x3x3 / 1x3x3 / 3x1x1. 8 frames of 32x32.
#
#   python tools/data/generate_synthetic.py data/synthetic
#   python tools/train.py configs/demo/cakes_tiny_synthetic.py
#
# tools/run_demo.py does both, for this config and its all-1x3x3 twin
# (c2d_tiny_synthetic.py), and compares them with the frame-order-blind
# ceiling: every class has a time-reversed twin, so only a model that sees
# the order of the frames can beat 50% top-1.
# Data: configs/_base_/datasets/synthetic_rawframes.py.
_base_ = [
    '../_base_/models/cakes_r50.py',
    '../_base_/datasets/synthetic_rawframes.py',
    '../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        depth=18,
        base_channels=16,
        num_stages=3,
        stage_blocks=(1, 1, 1),
        out_indices=(2, ),
        spatial_strides=(1, 2, 2),
        temporal_strides=(1, 1, 1),
        dilations=(1, 1, 1),
        assignment=dict(
            _delete_=True, uniform=['3x3x3', '1x3x3', '3x1x1'])),
    cls_head=dict(
        in_channels=64,
        num_classes=_base_.num_classes,
        dropout_ratio=0.2,
        init_std=0.01))

max_epochs = 24
train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_begin=1,
    val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# AdamW with a short warm-up and a cosine decay: fast and steady on CPU.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=4e-3, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.04,
        by_epoch=True,
        begin=0,
        end=2,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 2,
        eta_min=1e-6,
        by_epoch=True,
        begin=2,
        end=max_epochs,
        convert_to_iter_based=True)
]

default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=4, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=False)
auto_scale_lr = dict(enable=False, base_batch_size=16)
