# CAKES ResNet-50, Something-Something V1, 16 frames. As in the paper, the
# 16-frame model keeps the 8-frame-searched assignment (CAKES^P_{1,2,3D} by
# default; pick another with --cfg-options model.backbone.assignment=...).
# Twice the frames per clip: half the batch per GPU, lr scaled linearly.
_base_ = ['cakes_r50_sthv1.py']

num_frames = 16

train_pipeline = [
    dict(type='SegmentSampleFrames', num_segments=num_frames),
    dict(type='CheckedRawFrameDecode', io_backend='disk'),
    dict(type='Resize', scale=(-1, 256)),
    dict(
        type='MultiScaleCrop',
        input_size=224,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1,
        num_fixed_crops=13),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(
        type='ClassNameFlip', class_file={{_base_.class_file}},
        flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='SegmentSampleFrames', num_segments=num_frames, test_mode=True),
    dict(type='CheckedRawFrameDecode', io_backend='disk'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

# 8 GPUs x 6 = 48 clips of 16 frames; lr 0.02 keeps lr / batch of the
# 8-frame recipe (0.04 / 96).
train_dataloader = dict(
    batch_size=6, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=6, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=val_pipeline))

optim_wrapper = dict(optimizer=dict(lr=0.02))
auto_scale_lr = dict(enable=False, base_batch_size=48)
