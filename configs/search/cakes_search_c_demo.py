# CAKES search, C scheme, on the synthetic demo dataset (CPU minutes), on
# the network of ./cakes_demo_train.py: the demo skeleton
# (../demo/cakes_tiny_synthetic.py) with bottleneck blocks, 3 stages of
# one block, CAKES widths 16/32/64, 8 frames of 32x32, 10 classes. SGD as
# in the paper's search, with its steps at 5/7 and 6/7 of the run.
#
#   python tools/train.py configs/search/cakes_search_c_demo.py
#   python tools/export_assignment.py configs/search/cakes_search_c_demo.py \
#       work_dirs/cakes_search_c_demo/epoch_20.pth --input-shape 8 32 32 \
#       --out work_dirs/cakes_search_c_demo/assignment.json
#
# Shape set: --cfg-options model.backbone.shapes=12d (23d, video, ...).
# Data: configs/_base_/datasets/synthetic_rawframes.py.
_base_ = [
    '../_base_/models/cakes_r50_supernet.py',
    '../_base_/datasets/synthetic_rawframes.py', '../_base_/default_runtime.py'
]

model = dict(
    # A short search needs a stronger pull than the paper's 1e-4 over
    # 60k+ iterations for the penalty to shape the result.
    sparsity=dict(s=1e-3, reweight=True),
    backbone=dict(
        scheme='C',
        shapes='video',
        depth=50,
        base_channels=16,
        num_stages=3,
        stage_blocks=(1, 1, 1),
        out_indices=(2, ),
        spatial_strides=(1, 2, 2),
        temporal_strides=(1, 1, 1),
        dilations=(1, 1, 1)),
    cls_head=dict(
        in_channels=256,
        num_classes=_base_.num_classes,
        dropout_ratio=0.2,
        init_std=0.01))

# The runtime base's guards (watchdog, data-fault log) plus the search's.
custom_hooks = _base_.reliability_hooks + [
    dict(type='CAKESSparsityHook', lam=1.0, interval=10)
]

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=20, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=20,
        by_epoch=True,
        milestones=[14, 17],
        gamma=0.1)
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.04, momentum=0.9, weight_decay=3e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))

default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_best=None))

randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=16)
