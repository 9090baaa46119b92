"""Model helpers: LightGBM and Keras estimators with leak-free early stopping.

Every helper is a plain scikit-learn estimator: all its hyperparameters are
explicit ``__init__`` parameters (so :func:`sklearn.base.clone` and the
searches keep them) and nothing is built before ``fit``.

Early stopping never looks at the data a model is scored on. ``fit`` splits
the rows it is given into an inner training part and an inner validation part
(``validation_fraction`` of the rows, stratified for classifiers, seeded by
``random_state``) and stops on the validation part. Inside a cross-validated
search the helper only ever receives a fold's training rows, so the fold's
test rows (and any held-out test set) are never used for stopping. The rows
used are kept in ``validation_indices_`` (positions in the fit data), and the
number of iterations kept in ``best_iteration_``.

Iteration resource: each helper declares the parameter that counts its
iterations (``n_estimators`` for LightGBM, ``epochs`` for Keras) in its class
attribute ``_iteration_param``; successive halving grows it round by round
with ``HalvingMultiModelSearchCV(resource="auto")``.

Fixed-iteration protocol: a helper's ``fixed_iteration_params(n_iterations)``
returns the parameters that make ``fit`` run exactly ``n_iterations``
iterations on all the rows, without early stopping. With
``refit_iterations="mean"`` :class:`~distsearch.MultiModelSearchCV` uses it
to refit the winner for its mean best iteration over the folds. Any
estimator that reports ``best_iteration_`` and has this method takes part.

The LightGBM helpers need the ``lightgbm`` extra; the Keras helpers
(:class:`KerasRegressor`, :class:`KerasClassifier`, :func:`build_mlp`) need the
``keras`` extra and are imported on first use, so ``import distsearch.models``
stays cheap and works without Keras. Importing them picks the Keras backend:
if ``KERAS_BACKEND`` is unset and TensorFlow is not installed, it is set to
``"jax"`` before Keras is imported (an explicit ``KERAS_BACKEND`` always wins).
"""

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._extras import check_installed, require
from ._inner import _inner_split
from ._seeding import int_seed
from ._sklearn_compat import _check_sample_weight

__all__ = [
    "LightGBMRegressor",
    "LightGBMClassifier",
    "KerasRegressor",
    "KerasClassifier",
    "build_mlp",
]

_KERAS_NAMES = ("KerasRegressor", "KerasClassifier", "build_mlp")


def __getattr__(name):
    # The Keras helpers live in ``_keras`` so that importing this module (as
    # every worker does to unpickle a LightGBM helper) does not import Keras.
    if name in _KERAS_NAMES:
        # Looked up, not imported: _keras sets KERAS_BACKEND before importing Keras.
        check_installed(("keras", "scikeras"), "keras", f"distsearch.models.{name}")
        from . import _keras

        return getattr(_keras, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    # The lazy Keras names too, so that tools listing the module (the API
    # docs, completion) see every public name under this public path.
    return sorted(set(globals()) | set(__all__))


_LIGHTGBM_PARAMETERS = """
    Parameters
    ----------
    n_estimators : int, default=1000
        Maximum number of boosting rounds; early stopping usually keeps fewer.

    learning_rate : float, default=0.1
        Boosting learning rate.

    num_leaves : int, default=31
        Maximum number of leaves per tree.

    max_depth : int, default=-1
        Maximum tree depth; -1 means no limit.

    min_child_samples : int, default=20
        Minimum number of rows in a leaf.

    subsample : float, default=1.0
        Share of the rows drawn for each bagging round (used only when
        ``subsample_freq > 0``).

    subsample_freq : int, default=0
        Bagging frequency, in rounds; 0 turns bagging off.

    colsample_bytree : float, default=1.0
        Share of the features drawn for each tree.

    reg_alpha : float, default=0.0
        L1 regularization of the leaf weights.

    reg_lambda : float, default=0.0
        L2 regularization of the leaf weights.

    validation_fraction : float, default=0.1
        Share of the fit rows held out for early stopping (an inner split,
        stratified for the classifier); unused when ``early_stopping_rounds``
        is None.

    early_stopping_rounds : int or None, default=10
        Stop when the validation loss has not improved by more than
        ``min_delta`` for this many rounds, and keep the best round. None fits
        all ``n_estimators`` rounds on all the rows.

    min_delta : float, default=0.0
        Minimum improvement of the validation loss that counts.

    random_state : int, RandomState instance or None, default=None
        Seeds the inner split and LightGBM's own randomness (bagging, feature
        sampling). An int gives reproducible fits.

    n_jobs : int, default=1
        LightGBM threads. One by default: the search runs fits in parallel.

    verbose : int, default=-1
        LightGBM verbosity; -1 is silent.

    Attributes
    ----------
    model_ : lightgbm.{lgb_class}
        The fitted LightGBM model.

    best_iteration_ : int
        Boosting rounds kept (the best round under early stopping, else
        ``n_estimators``).

    validation_indices_ : ndarray of int
        Positions, in the rows given to ``fit``, of the rows early stopping
        used (empty without early stopping).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of str
        Names of the features seen during ``fit``, when X has string column
        names.
"""


class _LightGBMModel(BaseEstimator):
    """The parameters, fit and predict shared by the two LightGBM helpers."""

    # Checked by the searches and the tournament before any fit.
    _required_packages = (("lightgbm", "lightgbm"),)
    # The parameter that counts its iterations: what successive halving
    # grows by default (HalvingMultiModelSearchCV's resource="auto").
    _iteration_param = "n_estimators"

    def __init__(
        self,
        *,
        n_estimators=1000,
        learning_rate=0.1,
        num_leaves=31,
        max_depth=-1,
        min_child_samples=20,
        subsample=1.0,
        subsample_freq=0,
        colsample_bytree=1.0,
        reg_alpha=0.0,
        reg_lambda=0.0,
        validation_fraction=0.1,
        early_stopping_rounds=10,
        min_delta=0.0,
        random_state=None,
        n_jobs=1,
        verbose=-1,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.subsample_freq = subsample_freq
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.min_delta = min_delta
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = True
        return tags

    def _make_model(self, seed):
        lightgbm = require("lightgbm", "lightgbm", type(self).__name__)

        params = {
            name: getattr(self, name)
            for name in (
                "n_estimators",
                "learning_rate",
                "num_leaves",
                "max_depth",
                "min_child_samples",
                "subsample",
                "subsample_freq",
                "colsample_bytree",
                "reg_alpha",
                "reg_lambda",
                "n_jobs",
                "verbose",
            )
        }
        return getattr(lightgbm, self._lgb_class)(random_state=seed, **params)

    def fit(self, X, y, sample_weight=None):
        """Fit on (X, y), early-stopping on an inner split of these rows.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training data; NaN marks missing values.

        y : array-like of shape (n_samples,)
            Targets.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; the validation rows keep theirs for early stopping.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        lightgbm = require("lightgbm", "lightgbm", type(self).__name__)

        classifier = self._lgb_class == "LGBMClassifier"
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            ensure_all_finite="allow-nan",
            y_numeric=not classifier,
        )
        X = _as_lightgbm_input(X)
        if classifier:
            check_classification_targets(y)
            # LightGBM does not encode the labels of its eval set.
            self.classes_, y = np.unique(y, return_inverse=True)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        seed = int_seed(self.random_state)
        model = self._make_model(seed)
        if self.early_stopping_rounds is None:
            model.fit(X, y, sample_weight=sample_weight)
            self.validation_indices_ = np.array([], dtype=np.intp)
            self.best_iteration_ = int(model.booster_.current_iteration())
        else:
            train, val = _inner_split(y, self.validation_fraction, classifier, seed)
            weights = {}
            if sample_weight is not None:
                weights = {
                    "sample_weight": sample_weight[train],
                    "eval_sample_weight": [sample_weight[val]],
                }
            model.fit(
                X[train],
                y[train],
                eval_X=(X[val],),
                eval_y=(y[val],),
                callbacks=[
                    lightgbm.early_stopping(
                        self.early_stopping_rounds,
                        first_metric_only=True,
                        verbose=False,
                        min_delta=self.min_delta,
                    )
                ],
                **weights,
            )
            self.validation_indices_ = val
            self.best_iteration_ = int(
                model.best_iteration_ or model.booster_.current_iteration()
            )
        self.model_ = model
        return self

    def fixed_iteration_params(self, n_iterations):
        """Parameters that make ``fit`` run ``n_iterations`` rounds on all rows.

        Parameters
        ----------
        n_iterations : int
            Number of boosting rounds.

        Returns
        -------
        params : dict
            For ``set_params``: ``n_estimators`` set, early stopping off.
        """
        return {"n_estimators": int(n_iterations), "early_stopping_rounds": None}

    def _validated(self, X):
        check_is_fitted(self, "model_")
        return _as_lightgbm_input(
            validate_data(
                self, X, reset=False, accept_sparse="csr", ensure_all_finite="allow-nan"
            )
        )

    def predict(self, X):
        """Predict with the rounds kept (``best_iteration_``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        X = self._validated(X)
        return self.model_.predict(X)


def _as_lightgbm_input(X):
    # LightGBM takes scipy sparse matrices, not sparse arrays.
    return sparse.csr_matrix(X) if sparse.issparse(X) else X


class LightGBMRegressor(RegressorMixin, _LightGBMModel):
    _lgb_class = "LGBMRegressor"


class LightGBMClassifier(ClassifierMixin, _LightGBMModel):
    _lgb_class = "LGBMClassifier"

    def predict(self, X):
        """Predict class labels with the rounds kept (``best_iteration_``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def predict_proba(self, X):
        """Class probabilities, with the rounds kept (``best_iteration_``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        X = self._validated(X)
        return self.model_.predict_proba(X)


LightGBMRegressor.__doc__ = (
    """LightGBM regressor with early stopping on an inner validation split.

    Wraps :class:`lightgbm.LGBMRegressor` as a clone-safe scikit-learn
    estimator; see :mod:`distsearch.models` for the early-stopping protocol.
"""
    + _LIGHTGBM_PARAMETERS.format(lgb_class="LGBMRegressor")
    + """
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from distsearch.models import LightGBMRegressor
    >>> X, y = make_regression(n_samples=200, n_features=4, random_state=0)
    >>> model = LightGBMRegressor(n_estimators=500, random_state=0).fit(X, y)
    >>> 0 < model.best_iteration_ <= 500, len(model.validation_indices_)
    (True, 20)
    """
)

LightGBMClassifier.__doc__ = (
    """LightGBM classifier with early stopping on a stratified inner split.

    Wraps :class:`lightgbm.LGBMClassifier` as a clone-safe scikit-learn
    estimator; see :mod:`distsearch.models` for the early-stopping protocol.
"""
    + _LIGHTGBM_PARAMETERS.format(lgb_class="LGBMClassifier")
    + """
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from distsearch.models import LightGBMClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> model = LightGBMClassifier(n_estimators=500, random_state=0).fit(X, y)
    >>> model.predict_proba(X[:2]).shape
    (2, 2)
    """
)
