# Kinetics-400 from videos decoded with decord, mmaction2's layout
# (tools/data/kinetics): list lines '<relative video path> <label>', 400
# classes. 8 frames at interval 8 (the clips of SlowOnly-R50 8x8x1):
# random-resized crop to 224 + flip for training, short side 256 + center
# crop for validation, 10 clips x 3 crops for testing.
#
# Bad data (docs/failure_modes.md): RobustVideoDataset checks every list
# line and label (< num_classes) when it is built; CheckedDecordInit /
# CheckedDecordDecode check each video's bytes as they read it (each file is
# read once) and name the file. Training skips a failing sample (logged,
# limited); validation and test stop at it.
#
# Your own videos: docs/custom_dataset.md (a child config sets the
# variables below and the three loaders and the head).
dataset_type = 'RobustVideoDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'
num_classes = 400  # keep equal to model.cls_head.num_classes
# Class names, one per line (line number = label), e.g. mmaction2's
# tools/data/kinetics/label_map_k400.txt; optional here (no flip swaps
# labels), checked against num_classes and kept as the datasets' classes.
class_file = None

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='CheckedDecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=8, frame_interval=8, num_clips=1),
    dict(type='CheckedDecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='CheckedDecordInit', **file_client_args),
    dict(
        type='SampleFrames',
        clip_len=8,
        frame_interval=8,
        num_clips=1,
        test_mode=True),
    dict(type='CheckedDecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='CheckedDecordInit', **file_client_args),
    dict(
        type='SampleFrames',
        clip_len=8,
        frame_interval=8,
        num_clips=10,
        test_mode=True),
    dict(type='CheckedDecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
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
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
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
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        num_classes=num_classes,
        on_error='raise',
        test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
