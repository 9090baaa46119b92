"""distsearch: cross-validated model selection over several models at once.

The main entry point is :class:`MultiModelSearchCV`, a drop-in replacement for
scikit-learn's ``GridSearchCV`` that also searches several models, each with
its own parameter space, in one flat parallel dispatch.
"""

from ._search import MultiModelSearchCV

__all__ = ["MultiModelSearchCV"]
__version__ = "0.1.0"
