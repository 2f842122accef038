# The hard synthetic benchmark (cakes_mmaction/harness/synthetic/hard.py)
# in the SthV1 rawframes layout, as tools/data/generate_synthetic.py
# writes it:
#   python tools/data/generate_synthetic.py data/synthetic_hard \
#       --benchmark hard --test-per-class 20 --formats rawframes
# 12 classes (6 pairs of time-reversed twins), clips of 8 to 12 frames of
# 32x32 (8 sampled); train on train, validate on val, test on test.
#
# An overlay of ./synthetic_rawframes.py, which a config must also inherit
# (directly or through its bases). Every name starts with `hard_` so that
# both can be bases of one config; the config then applies it with
#   train_dataloader = _base_.hard_train_dataloader
#   val_dataloader = _base_.hard_val_dataloader
#   test_dataloader = _base_.hard_test_dataloader
#   model = dict(cls_head=dict(num_classes=_base_.hard_num_classes))
hard_data_root = 'data/synthetic_hard/rawframes'
hard_class_file = 'data/synthetic_hard/classes.txt'
hard_num_classes = 12

hard_train_dataloader = dict(
    dataset=dict(
        ann_file='data/synthetic_hard/train_list_rawframes.txt',
        data_prefix=dict(img=hard_data_root),
        pipeline=[
            dict(type='SegmentSampleFrames', num_segments=8),
            dict(type='CheckedRawFrameDecode'),
            # A mirror image swaps left/right and the clockwise classes.
            dict(
                type='ClassNameFlip',
                class_file=hard_class_file,
                swap_words=[('left', 'right'),
                            ('clockwise', 'anticlockwise')],
                flip_ratio=0.5),
            dict(type='FormatShape', input_format='NCTHW'),
            dict(type='PackActionInputs')
        ],
        num_classes=hard_num_classes))
hard_val_dataloader = dict(
    dataset=dict(
        ann_file='data/synthetic_hard/val_list_rawframes.txt',
        data_prefix=dict(img=hard_data_root),
        num_classes=hard_num_classes))
hard_test_dataloader = dict(
    dataset=dict(
        ann_file='data/synthetic_hard/test_list_rawframes.txt',
        data_prefix=dict(img=hard_data_root),
        num_classes=hard_num_classes))
