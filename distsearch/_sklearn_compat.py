"""The one place distsearch imports private scikit-learn names.

distsearch is a drop-in for :class:`~sklearn.model_selection.GridSearchCV`, so
it reuses the machinery GridSearchCV is built from (``BaseSearchCV``, the
scorers, ``_fit_context``, the fit-failure warnings, metadata routing) rather
than copying it. Those names are private to scikit-learn and can move or change
between releases; importing them here only means a scikit-learn release that
moves one is fixed in one file.

Invariants:

- Every other distsearch module imports scikit-learn's private names (a name
  starting with ``_`` or any name from a module path with a ``_`` part) from
  here, never from scikit-learn (``tests/test_imports.py`` checks it).
- This module imports nothing of distsearch, only scikit-learn.
- The names keep scikit-learn's spelling, so each is the very object
  scikit-learn defines (``isinstance`` checks and pickles are unchanged).
- Supported: scikit-learn 1.8 and 1.9. Where a release lacks a name, the
  branch below sets it to None and says which release has it.
"""

# The search's base class and its validation and routing helpers.
from sklearn.base import _fit_context
from sklearn.model_selection._search import BaseSearchCV
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils._repr_html.estimator import _VisualBlock
from sklearn.utils.metadata_routing import _routing_enabled

# Scoring a fitted model as scikit-learn's cross-validation does.
from sklearn.metrics._scorer import (
    _BaseScorer,
    _check_multimetric_scoring,
    _MultimetricScorer,
    _PassthroughScorer,
)
from sklearn.model_selection._validation import (
    _insert_error_scores,
    _score,
    _warn_or_raise_about_fit_failures,
)

# Splitting and indexing the data of one fold.
from sklearn.model_selection._search_successive_halving import _SubsampleMetaSplitter
from sklearn.model_selection._split import _yields_constant_splits
from sklearn.utils import _safe_indexing
from sklearn.utils._array_api import device, get_namespace
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.validation import (
    _check_method_params,
    _check_sample_weight,
    _num_samples,
)

# Callbacks (``set_callbacks``): scikit-learn 1.9+.
try:
    from sklearn.callback import AutoPropagatedCallback
    from sklearn.callback import _transport
    from sklearn.callback._callback_context import get_context_path
except ImportError:  # pragma: no cover - scikit-learn 1.8
    AutoPropagatedCallback = _transport = get_context_path = None

__all__ = [
    "AutoPropagatedCallback",
    "BaseSearchCV",
    "HasMethods",
    "Interval",
    "StrOptions",
    "_BaseScorer",
    "_MultimetricScorer",
    "_PassthroughScorer",
    "_SubsampleMetaSplitter",
    "_VisualBlock",
    "_check_method_params",
    "_check_multimetric_scoring",
    "_check_sample_weight",
    "_fit_context",
    "_insert_error_scores",
    "_num_samples",
    "_routing_enabled",
    "_safe_indexing",
    "_safe_split",
    "_score",
    "_transport",
    "_warn_or_raise_about_fit_failures",
    "_yields_constant_splits",
    "device",
    "get_context_path",
    "get_namespace",
]
