# The synthetic demo dataset (a template for the training issue's
# generator, tools/data/): rawframes <data_root>/rawframes/<vid>/{:05d}.jpg
# (1-based), list lines "<vid> <num_frames> <label>", 8 classes that differ
# by the direction of time. 8 frames per clip, small crops, no flip (a
# flip would swap the left/right classes).
#
# Point it at other data with
#   --cfg-options data_root=... train_dataloader.dataset.ann_file=... \
#       train_dataloader.dataset.data_prefix.img=... (and val/test).
dataset_type = 'RawframeDataset'
data_root = 'data/cakes_demo'
frames_root = data_root + '/rawframes'
ann_file_train = data_root + '/train_list.txt'
ann_file_val = data_root + '/val_list.txt'

train_pipeline = [
    dict(type='UniformSample', clip_len=8),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(
        type='MultiScaleCrop',
        input_size=56,
        scales=(1, 0.875, 0.75),
        random_crop=False,
        max_wh_scale_gap=1),
    dict(type='Resize', scale=(56, 56), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='UniformSample', clip_len=8, num_clips=1, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 64)),
    dict(type='CenterCrop', crop_size=56),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(img=frames_root),
        filename_tmpl='{:05}.jpg',
        start_index=1,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(img=frames_root),
        filename_tmpl='{:05}.jpg',
        start_index=1,
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
