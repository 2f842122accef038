# Train the demo network (the skeleton of ./cakes_search_c_demo.py) with
# any channel assignment, e.g. the searched one, on the demo dataset.
# Default: the uniform 1:1:1 split over 3x3x3, 1x3x3, 3x1x1.
#
#   searched: --cfg-options \
#       model.backbone.assignment=work_dirs/cakes_search_c_demo/assignment.json
#   all-3D:   --cfg-options "model.backbone.assignment.uniform=[3x3x3]"
#   all-2D:   --cfg-options "model.backbone.assignment.uniform=[1x3x3]"
#
#   python tools/train.py configs/search/cakes_demo_train.py \
#       --work-dir work_dirs/demo_searched_c --cfg-options ...
_base_ = [
    '../_base_/models/cakes_r50.py', './_base_/cakes_demo_rawframes.py',
    'mmaction::_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        assignment=dict(_delete_=True, uniform=['3x3x3', '1x3x3', '3x1x1']),
        depth=50,
        stage_blocks=(1, 1, 1, 1),
        base_channels=16),
    cls_head=dict(in_channels=16 * 8 * 4, num_classes=8, init_std=0.01))

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=20, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1),
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
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_best='auto'))

randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
