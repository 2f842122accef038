# The synthetic temporal-reasoning dataset of the demo, in the SthV1
# rawframes layout, as tools/data/generate_synthetic.py writes it:
#   python tools/data/generate_synthetic.py data/synthetic
# 1-based JPEG frames <root>/rawframes/<vid>/{:05}.jpg, lists
# '{split}_list_rawframes.txt' ('<vid> <num_frames> <label>'), class names
# in classes.txt; 10 classes (5 pairs of time-reversed twins), 8 frames of
# 32x32.
#
# Point it at another generated folder with --cfg-options on the dataloaders
# (cakes_mmaction.harness.apis.data_options.synthetic_cfg_options writes them),
# or with a child config (docs/custom_dataset.md).
# Bad data: as in ./sthv1_rawframes_8f.py, but generated data has no excuse
# for a bad file, so training stops at the first one too.
dataset_type = 'RobustRawframeDataset'
data_root = 'data/synthetic/rawframes'
ann_file_train = 'data/synthetic/train_list_rawframes.txt'
ann_file_val = 'data/synthetic/val_list_rawframes.txt'
ann_file_test = 'data/synthetic/val_list_rawframes.txt'
class_file = 'data/synthetic/classes.txt'
num_classes = 10  # keep equal to model.cls_head.num_classes
num_frames = 8

train_pipeline = [
    dict(type='SegmentSampleFrames', num_segments=num_frames),
    dict(type='CheckedRawFrameDecode'),
    # A mirror image swaps the left/right and the clockwise/anticlockwise
    # classes; the label map comes from the dataset's class_file.
    dict(
        type='ClassNameFlip',
        swap_words=[('left', 'right'), ('clockwise', 'anticlockwise')],
        flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
# Test clips hold every frame of a video (8 of 8), so the time-reversed
# twins of the test split are exact mirror images in time.
val_pipeline = [
    dict(type='SegmentSampleFrames', num_segments=num_frames, test_mode=True),
    dict(type='CheckedRawFrameDecode'),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = val_pipeline

train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
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
        on_error='raise'))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
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
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
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
