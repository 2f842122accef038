# Something-Something V1 rawframes, 8 frames (the paper's setting), the one
# SthV1 data section of the project: training, search and searched-network
# configs all inherit it.
#
# Layout of mmaction2's tools/data/sthv1: 1-based JPEG frames
# <data_root>/<video_id>/{:05}.jpg, list lines
# '<video_id> <num_frames> <label>', 174 classes.
# Train: TSN segment sampling (one frame at a random offset in each of
# num_frames segments), multi-scale crop (1, .875, .75, .66) to 224, flip
# with the left/right label swap derived from the class names. Test: one
# clip of segment centres, short side 256, one 224 center crop.
#
# Other frame counts: override num_frames in the sampling steps (see
# configs/cakes_r50_sthv1_16f.py).
#
# Your own data: the variables below (data_root, ann_file_*, class_file,
# num_classes) are read when this file is parsed, so a child config sets
# them AND the three loaders and the head; docs/custom_dataset.md has the
# ten-line child config.
#
# Bad data (docs/failure_modes.md): RobustRawframeDataset checks every list
# line and label (< num_classes) when it is built, and each sample's folder
# and frame count; CheckedRawFrameDecode checks the bytes of every frame it
# reads (each frame is read once) and names the file. Training skips a
# failing sample (logged, limited); validation and test stop at it.
dataset_type = 'RobustRawframeDataset'
data_root = 'data/sthv1/rawframes'
ann_file_train = 'data/sthv1/sthv1_train_list_rawframes.txt'
ann_file_val = 'data/sthv1/sthv1_val_list_rawframes.txt'
ann_file_test = 'data/sthv1/sthv1_val_list_rawframes.txt'
# One class name per line, line number = label; the flip's left/right label
# swap is derived from it (never hard-coded indices: V1 and V2 differ).
class_file = 'data/sthv1/annotations/something-something-v1-labels.csv'
num_classes = 174  # keep equal to model.cls_head.num_classes
num_frames = 8

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
    # Its class names come from the dataset's class_file (below).
    dict(type='ClassNameFlip', flip_ratio=0.5),
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

# 8 GPUs x 12 = 96, the batch the paper's lr is set for.
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
        pipeline=train_pipeline,
        num_classes=num_classes,
        class_file=class_file,
        # A long run does not die on one bad clip: each failing sample is
        # logged (skipped_samples.json) and replaced, up to 100 distinct
        # samples per process or 1% of the list, whichever is smaller;
        # past that the run stops (docs/failure_modes.md).
        on_error='skip',
        max_skips=100,
        max_skip_ratio=0.01))
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
        num_classes=num_classes,
        on_error='raise',
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
        num_classes=num_classes,
        on_error='raise',
        test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
