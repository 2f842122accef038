# CAKES ResNet-50, Something-Something V1, 8 frames: the paper's recipe,
# CAKES^P_{1,2,3D} assignment by default.
#
#   python tools/train.py configs/cakes_r50_sthv1.py            # 1 process
#   bash tools/dist_train.sh configs/cakes_r50_sthv1.py 8       # 8 GPUs
#
# Another assignment: one of the six presets or a file, e.g.
#   --cfg-options model.backbone.assignment=cakes12d_c
#   --cfg-options model.backbone.assignment=work_dirs/search/assignment.json
# ImageNet initialisation (the paper's): a local torchvision ResNet-50
# checkpoint, inflated per kernel shape; nothing is downloaded:
#   --cfg-options model.backbone.pretrained=checkpoints/resnet50.pth
# Data (layout, sampling, augmentation, loaders):
#   configs/_base_/datasets/sthv1_rawframes_8f.py
_base_ = [
    '_base_/models/cakes_r50.py', '_base_/datasets/sthv1_rawframes_8f.py',
    '_base_/schedules/sgd_cakes_70e.py', '_base_/default_runtime.py'
]

# The classes of the data base (174), which checks the labels against it.
model = dict(cls_head=dict(num_classes=_base_.num_classes))

# Keep the best top-1 checkpoint (and the last 3 epochs for --resume).
default_hooks = dict(
    checkpoint=dict(
        interval=1, save_best='acc/top1', rule='greater', max_keep_ckpts=3))

auto_scale_lr = dict(enable=False, base_batch_size=96)
