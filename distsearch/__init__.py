"""distsearch: cross-validated model selection over several models at once.

The main entry point is :class:`MultiModelSearchCV`, a drop-in replacement for
scikit-learn's ``GridSearchCV`` that also searches several models, each with
its own parameter space, in one flat parallel dispatch.
"""

from ._contenders import from_contenders_spec
from ._optuna import OptunaMultiModelSearchCV
from ._search import MultiModelSearchCV
from ._shard import ShardError

__all__ = ["MultiModelSearchCV", "OptunaMultiModelSearchCV", "ShardError", "from_contenders_spec"]
__version__ = "0.1.0"
