# CAKES search, C scheme, on the synthetic demo dataset (CPU minutes):
# a narrow, shallow CAKES ResNet (one bottleneck per stage, 16 stem
# channels) at 8 x 56 x 56, 8 classes. The schedule keeps the paper's
# shape (steps at 5/7 and 6/7 of the run) on 20 epochs.
#
#   python tools/train.py configs/search/cakes_search_c_demo.py
#   python tools/export_assignment.py configs/search/cakes_search_c_demo.py \
#       work_dirs/cakes_search_c_demo/epoch_20.pth --input-shape 8 56 56 \
#       --out work_dirs/cakes_search_c_demo/assignment.json
#
# Shape set: --cfg-options model.backbone.shapes=12d (23d, video, ...).
_base_ = [
    '../_base_/models/cakes_r50_supernet.py',
    './_base_/cakes_demo_rawframes.py', 'mmaction::_base_/default_runtime.py'
]

model = dict(
    # A short search needs a stronger pull than the paper's 1e-4 over
    # 60k+ iterations for the penalty to shape the result.
    sparsity=dict(s=1e-3, reweight=True),
    backbone=dict(
        scheme='C',
        shapes='video',
        depth=50,
        stage_blocks=(1, 1, 1, 1),
        base_channels=16),
    cls_head=dict(in_channels=16 * 8 * 4, num_classes=8, init_std=0.01))

custom_hooks = [dict(type='CAKESSparsityHook', lam=1.0, interval=10)]

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
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=3e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_best=None))

randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
