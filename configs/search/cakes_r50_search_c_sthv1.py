# CAKES search, C ("cost priority") scheme, ResNet-50 on Something-Something
# V1, 8 frames: every candidate kept, L1 on the
# candidates' BN gamma weighted by kernel volume (9:3:1), 70 epochs, lr 0.04
# for batch 96, x0.1 at epochs 50 and 60.
#
#   python tools/train.py configs/search/cakes_r50_search_c_sthv1.py
#   python tools/export_assignment.py \
#       configs/search/cakes_r50_search_c_sthv1.py \
#       work_dirs/cakes_r50_search_c_sthv1/epoch_70.pth \
#       --out work_dirs/cakes_r50_search_c_sthv1/assignment.json
#
# Shape set: --cfg-options model.backbone.shapes=12d   (or 23d, video,
#   volumetric, or a list: "model.backbone.shapes=[3x3x3,3x1x1]").
# Penalty: --cfg-options model.sparsity.s=1e-4 model.sparsity.reweight=True
#   (both are the defaults); lambda_t: the CAKESSparsityHook of custom_hooks.
# ImageNet init: --cfg-options model.backbone.pretrained=PATH_TO_2D_R50.pth
#   (a local torchvision-layout checkpoint; every shape group gets a copy).
# Data: configs/_base_/datasets/sthv1_rawframes_8f.py (that of the training
# configs).
_base_ = [
    '../_base_/models/cakes_r50_supernet.py',
    '../_base_/datasets/sthv1_rawframes_8f.py', '../_base_/default_runtime.py'
]

model = dict(
    sparsity=dict(s=1e-4, reweight=True),
    backbone=dict(scheme='C', shapes='video'),
    cls_head=dict(num_classes=_base_.num_classes))

# The runtime base's guards (watchdog, data-fault log) plus the search's.
custom_hooks = _base_.reliability_hooks + [
    dict(type='CAKESSparsityHook', lam=1.0, interval=50)
]

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=70, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=70,
        by_epoch=True,
        milestones=[50, 60],
        gamma=0.1)
]

# No weight decay on BatchNorm (its gamma carries the L1 term) or biases.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.04, momentum=0.9, weight_decay=3e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))

default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=3))

# lr 0.04 is for 8 GPUs x 12 clips; --auto-scale-lr rescales it.
auto_scale_lr = dict(enable=False, base_batch_size=96)
