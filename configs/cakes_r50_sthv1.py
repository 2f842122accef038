# CAKES ResNet-50, Something-Something V1, 8 frames: the paper's recipe
# (cakes-method.md §4), CAKES^P_{1,2,3D} assignment by default.
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
_base_ = [
    '_base_/models/cakes_r50.py', '_base_/schedules/sgd_cakes_70e.py',
    '_base_/default_runtime.py'
]

num_frames = 8
model = dict(cls_head=dict(num_classes=174))

# Data: mmaction2's SthV1 layout (tools/data/sthv1): 1-based JPEG frames
# <video_id>/{:05}.jpg and list lines '<video_id> <num_frames> <label>'.
dataset_type = 'RawframeDataset'
data_root = 'data/sthv1/rawframes'
ann_file_train = 'data/sthv1/sthv1_train_list_rawframes.txt'
ann_file_val = 'data/sthv1/sthv1_val_list_rawframes.txt'
ann_file_test = 'data/sthv1/sthv1_val_list_rawframes.txt'
# One class name per line, line number = label; the flip's left/right label
# swap is derived from it (never hard-coded indices).
class_file = 'data/sthv1/annotations/something-something-v1-labels.csv'

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='SegmentSampleFrames', num_segments=num_frames),
    dict(type='CheckedRawFrameDecode', **file_client_args),
    dict(type='Resize', scale=(-1, 256)),
    dict(
        type='MultiScaleCrop',
        input_size=224,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1,
        num_fixed_crops=13),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='ClassNameFlip', class_file=class_file, flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# 1 clip (one frame at each segment centre), 1 center crop.
val_pipeline = [
    dict(type='SegmentSampleFrames', num_segments=num_frames, test_mode=True),
    dict(type='CheckedRawFrameDecode', **file_client_args),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = val_pipeline

# 8 GPUs x 12 = 96, the batch the lr of the schedule is set for.
train_dataloader = dict(
    batch_size=12,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(img=data_root),
        filename_tmpl='{:05}.jpg',
        start_index=1,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=12,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(img=data_root),
        filename_tmpl='{:05}.jpg',
        start_index=1,
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(img=data_root),
        filename_tmpl='{:05}.jpg',
        start_index=1,
        pipeline=test_pipeline,
        test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

# Keep the best top-1 checkpoint (and the last 3 epochs for --resume).
default_hooks = dict(
    checkpoint=dict(
        interval=1, save_best='acc/top1', rule='greater', max_keep_ckpts=3))

auto_scale_lr = dict(enable=False, base_batch_size=96)
