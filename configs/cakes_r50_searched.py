# Train a searched CAKES ResNet-50 on Something-Something V1, 8 frames,
# with the paper's recipe (cakes-method.md §4): 70 epochs, lr 0.04 for
# batch 96 with a 5-epoch linear warm-up, x0.1 at 50 and 60, weight decay
# 3e-4 (none on BatchNorm and biases), grad-norm clip 20, dropout 0.3,
# best top-1 checkpoint kept. No supernet weights are inherited.
#
#   A=work_dirs/cakes_r50_search_c_sthv1/assignment.json
#   python tools/train.py configs/cakes_r50_searched.py --cfg-options \
#       model.backbone.assignment=$A \
#       model.backbone.pretrained=checkpoints/resnet50_torchvision.pth
#
# model.backbone.assignment: the file tools/export_assignment.py wrote (it
#   is validated against the network before any weight exists).
# model.backbone.pretrained: a LOCAL torchvision-layout 2D ResNet-50
#   checkpoint; CAKES layers inflate it per shape (ImageNet-style init).
#   None trains from scratch.
_base_ = [
    './_base_/models/cakes_r50.py', './search/_base_/sthv1_rawframes.py',
    'mmaction::_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        assignment='work_dirs/cakes_r50_search_c_sthv1/assignment.json',
        pretrained=None,
        pretrained2d=True),
    cls_head=dict(num_classes=174))

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=70, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(
        type='MultiStepLR',
        begin=0,
        end=70,
        by_epoch=True,
        milestones=[50, 60],
        gamma=0.1)
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.04, momentum=0.9, weight_decay=3e-4),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=20, norm_type=2))

default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='acc/top1',
                    rule='greater'))

auto_scale_lr = dict(enable=False, base_batch_size=96)
