import matplotlib
import pytest
from matplotlib.figure import Figure

from cakes_mmaction.assignment import Assignment
from cakes_mmaction.visualization import (assignment_table, plot_assignments,
                                          render_assignments)


def test_plot_bars_are_the_shares_and_leave_pyplot_alone():
    import matplotlib.pyplot as plt
    open_before = plt.get_fignums()
    a = Assignment.preset('cakes123d_p')
    b = Assignment.preset('cakes12d_c')
    fig = plot_assignments([a, b], ['P', 'C'], title='two')
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == open_before
    ax = fig.axes[0]
    # one bar per (assignment, shape, layer): 2 x 3 x 16 (b has 3x3x3 = 0)
    bars = ax.patches
    assert len(bars) == 2 * 3 * 16
    heights = [bar.get_height() for bar in bars]
    # first assignment, first shape (3x3x3), in layer order
    assert heights[:16] == pytest.approx(
        [a[p]['3x3x3'] / a.width(p) for p in a])
    # stacked: the 3x1x1 bars of b start where 3x3x3 + 1x3x3 end
    for i, path in enumerate(b):
        bar = bars[3 * 16 + 2 * 16 + i]
        assert bar.get_y() == pytest.approx(b[path]['1x3x3'] / b.width(path))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ['3x3x3', '1x3x3', '3x1x1', 'P', 'C']
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ['1.0', '1.1']


def test_table_lists_counts_totals_and_shares():
    a = Assignment({'layer1.0.conv2': {'3x3x3': 3, '3x1x1': 1},
                    'layer2.0.conv2': {'3x3x3': 2, '3x1x1': 6}},
                   meta=dict(
                       flops=5e8,
                       params=1000,
                       cost_scope='CAKES layers only (the part an '
                       'assignment changes)',
                       input_shape=[1, 3, 8, 4, 4],
                       reference=dict(flops=2e9, params=4000)),
                   source='x/searched.json')
    text = assignment_table([a])
    lines = text.splitlines()
    assert 'searched' in lines[0]
    assert lines[1].split() == ['layer', 'width', '|', '3x3x3', '3x1x1']
    assert lines[3].split() == ['layer1.0.conv2', '4', '|', '3', '1']
    assert lines[4].split() == ['layer2.0.conv2', '8', '|', '2', '6']
    assert lines[6].split() == ['total', '|', '5', '7']
    assert lines[7].split() == ['share', '|', '41.7%', '58.3%']
    assert lines[8] == ('searched: CAKES layers only: 500.00M FLOPs '
                        '(multiply-adds per clip of 1x3x8x4x4) = 25.0%, '
                        '1.00K params = 25.0% of the all-3x3x3 CAKES layers '
                        '(2.00G, 4.00K)')


def test_render_writes_a_png(tmp_path):
    out = tmp_path / 'fig' / 'a.png'
    text = render_assignments(['cakes23d_p'], str(out))
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'cakes23d_p' in text
    image = matplotlib.image.imread(str(out))
    assert image.shape[0] > 300 and image.shape[1] > 600
    with pytest.raises(ValueError, match='no assignments'):
        render_assignments([])
