# The frame-order-blind baseline of cakes_tiny_synthetic.py: the same
# skeleton with every CAKES layer all-1x3x3 (C2D). The stem is 1x7x7, no
# layer pools or strides in time and the head averages over time, so the
# network sees a clip as a set of frames: it cannot tell a video from its
# time-reversed twin.
_base_ = ['cakes_tiny_synthetic.py']

model = dict(backbone=dict(assignment=dict(uniform=['1x3x3'])))
