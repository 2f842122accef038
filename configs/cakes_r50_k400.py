# CAKES ResNet-50 on Kinetics-400 from videos decoded with decord. A
# standard mmaction2 K400 recipe for an ImageNet-initialised 8-frame R50
# without temporal downsampling (that of SlowOnly-R50 8x8x1): 8 frames at
# interval 8, random-resized crop + flip, lr 0.01 for a total batch of 64
# with a 10-epoch warm-up, steps at 90 and 130 of 150 epochs; 10 clips x 3
# crops at test time. Data: configs/_base_/datasets/k400_video.py.
#
# Pick the assignment (a preset or a file) and the ImageNet checkpoint with
#   --cfg-options model.backbone.assignment=cakes23d_p \
#                 model.backbone.pretrained=checkpoints/resnet50.pth
_base_ = [
    '_base_/models/cakes_r50.py', '_base_/datasets/k400_video.py',
    '_base_/default_runtime.py'
]

model = dict(
    cls_head=dict(num_classes=_base_.num_classes, dropout_ratio=0.5))

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=150, val_begin=1, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# 8 GPUs x 8 = 64 clips; no weight decay on BN and biases.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=40, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='MultiStepLR',
        begin=0,
        end=150,
        by_epoch=True,
        milestones=[90, 130],
        gamma=0.1)
]

default_hooks = dict(
    checkpoint=dict(
        interval=5, save_best='acc/top1', rule='greater', max_keep_ckpts=3))

auto_scale_lr = dict(enable=False, base_batch_size=64)
