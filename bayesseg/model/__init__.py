"""The statistics of segments: the Dirichlet-multinomial mixture with gating, and the choice of K.

Its likelihood, EM start, relabelling, scoring from the posterior and persistence are modules of their own.
Layers, as in arviz-stats: :mod:`~bayesseg.model.likelihood`, :mod:`~bayesseg.model.relabel` and
:mod:`~bayesseg.model.scoring` are NumPy (and PyTensor) functions of arrays;
:class:`~bayesseg.model.SegmentModel` labels them and keeps the fitted state.
"""

from bayesseg.model.segment_model import SegmentModel
from bayesseg.model.selection import KComparison, compare_k

__all__ = ["KComparison", "SegmentModel", "compare_k"]
