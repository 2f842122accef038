"""Documented defaults of the search's public API match the signatures."""
import inspect
import re

import pytest

from cakes_mmaction import search, visualization
from cakes_mmaction.search import supernet_conv

API = [
    search.CAKESSupernetConv3d, search.CAKESSupernetConv3d.from_dense,
    search.CAKESSupernetConv3d.l1_penalty, search.ResNet3dCAKESSupernet,
    search.CAKESSearchRecognizer, search.CAKESSparsityHook,
    search.select_budget, search.searched_geometry, search.export_assignment,
    supernet_conv.shape_penalty_weights, visualization.plot_assignments,
    visualization.assignment_table, visualization.render_assignments
]


def documented_defaults(obj):
    doc = inspect.getdoc(obj)
    args = doc.split('Args:', 1)[1].split('Returns:', 1)[0]
    found = {}
    for match in re.finditer(r'^    (\w+) \([^)]*\):(.*?)(?=^    \w+ \(|\Z)',
                             args, re.M | re.S):
        text = ' '.join(match.group(2).split())
        default = re.search(r'Defaults to (.+?)(?: \(.*?\))?\.(?: |$)', text)
        if default:
            found[match.group(1)] = default.group(1).replace('``', '')
    return found


@pytest.mark.parametrize('obj', API, ids=lambda o: o.__qualname__)
def test_documented_defaults_match_signature(obj):
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = inspect.signature(target).parameters
    documented = documented_defaults(obj)
    for name, param in params.items():
        if param.default is inspect.Parameter.empty or name in ('self', ):
            continue
        assert name in documented, f'{obj.__qualname__}: {name} undocumented'
        assert documented[name] == repr(param.default), (
            f'{obj.__qualname__}.{name}: documented {documented[name]}, '
            f'signature {param.default!r}')
