"""distsearch: cross-validated model selection over several models at once.

The main entry point is :class:`MultiModelSearchCV`, a drop-in replacement for
scikit-learn's ``GridSearchCV`` that also searches several models, each with
its own parameter space, in one flat parallel dispatch.
"""

from ._contenders import from_contenders_spec
from ._halving import HalvingMultiModelSearchCV
from ._optuna import OptunaMultiModelSearchCV
from ._saved import SavedModel, load_model
from ._search import MultiModelSearchCV
from ._shard import ShardError

__all__ = [
    "HalvingMultiModelSearchCV",
    "MultiModelSearchCV",
    "OptunaMultiModelSearchCV",
    "SavedModel",
    "ShardError",
    "from_contenders_spec",
    "load_model",
]
__version__ = "0.1.0"
