"""Keras helpers on scikeras; exposed (and documented) by :mod:`distsearch.models`.

Importing this module imports Keras. If ``KERAS_BACKEND`` is unset and
TensorFlow is not installed, the backend is set to ``"jax"`` first.

On the JAX backend, every new network compiles its train, test and predict
steps again, even when it is the same network on rows of the same shape (the
next fold of a candidate, the next candidate of the same widths): at a
smoke-test size that compilation is most of a fit's time. So the first fit
in a process turns on JAX's persistent compilation cache in a private
temporary folder (removed when the process exits; a worker process ended
by its pool skips its exit handlers, so the folders of ended processes are
removed by the next one that opens a cache), unless the process has
a compilation cache of its own (``jax_compilation_cache_dir`` set, or the
cache switched off): an identical step is then compiled once per process.
Invariant: the cache only ever skips a compilation of the same program for
the same backend and JAX version, so fits give the same numbers with it as
without it.

For the same reason the ``l1`` and ``l2`` penalties of :func:`build_mlp` are
not constants of the compiled steps: each penalized Dense layer keeps them as
two non-trainable weights (state passed to the steps), so networks that
differ only in ``l1`` and ``l2`` (the random candidates of a search) are one
program and compile once. The penalty is Keras' ``L1L2`` term,
``l1 * sum(|w|) + l2 * sum(w ** 2)`` on each kernel.
"""

import atexit
import importlib.util
import os
import shutil
import tempfile

if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
    os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402
import numpy as np  # noqa: E402
from scikeras import wrappers  # noqa: E402
from scipy import sparse  # noqa: E402
from sklearn.utils import ClassifierTags, RegressorTags  # noqa: E402

from ._inner import _inner_split  # noqa: E402
from ._seeding import int_seed  # noqa: E402

# This process's JAX compilation cache folder: None until the first fit,
# "" when JAX's own setting is kept (another backend, the user's cache).
_COMPILATION_CACHE = None


_CACHE_PREFIX = "distsearch-jax-"


def _remove_ended_caches():
    """Remove the cache folders (``distsearch-jax-<pid>-*``) of ended processes.

    Only on POSIX, where signal 0 asks whether a process exists; a folder
    whose process is alive, or whose name holds no process id, is kept.
    """
    if os.name != "posix":
        return
    root = tempfile.gettempdir()
    try:
        entries = os.listdir(root)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(_CACHE_PREFIX):
            continue
        pid = entry[len(_CACHE_PREFIX):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        except OSError:  # alive, another user's
            pass


def _cache_compilations():
    """Turn on JAX's persistent compilation cache for this process (module docstring)."""
    global _COMPILATION_CACHE
    if _COMPILATION_CACHE is not None:
        return
    _COMPILATION_CACHE = ""
    if keras.backend.backend() != "jax":
        return
    import jax

    if jax.config.jax_compilation_cache_dir or not jax.config.jax_enable_compilation_cache:
        return
    _remove_ended_caches()
    _COMPILATION_CACHE = tempfile.mkdtemp(prefix=f"{_CACHE_PREFIX}{os.getpid()}-")
    atexit.register(shutil.rmtree, _COMPILATION_CACHE, ignore_errors=True)
    jax.config.update("jax_compilation_cache_dir", _COMPILATION_CACHE)
    # A small network's steps compile in well under JAX's default 1 s.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


class _Penalty(keras.regularizers.Regularizer):
    """Keras' L1L2 kernel penalty with its two coefficients read from variables."""

    def __init__(self, l1, l2):
        self.l1 = l1
        self.l2 = l2

    def __call__(self, x):
        ops = keras.ops
        regularization = ops.convert_to_tensor(0.0, dtype=x.dtype)
        regularization += ops.cast(self.l1, x.dtype) * ops.sum(ops.absolute(x))
        regularization += ops.cast(self.l2, x.dtype) * ops.sum(ops.square(x))
        return regularization


@keras.saving.register_keras_serializable(package="distsearch", name="PenalizedDense")
class _PenalizedDense(keras.layers.Dense):
    """A Dense layer with an L1/L2 kernel penalty whose coefficients are weights.

    The coefficients are non-trainable weights of the layer (module
    docstring), so the compiled steps take them as state instead of baking
    them in as constants.
    """

    def __init__(self, units, l1=0.0, l2=0.0, **kwargs):
        super().__init__(units, **kwargs)
        self.l1 = float(l1)
        self.l2 = float(l2)

    def build(self, input_shape):
        super().build(input_shape)
        l1, l2 = (
            self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(value),
                trainable=False,
                name=name,
            )
            for name, value in (("l1", self.l1), ("l2", self.l2))
        )
        self._kernel.regularizer = _Penalty(l1, l2)

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}

    # Saved and loaded (pickling, keras.saving) after Dense's own numbered entries.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.built:
            store["l1"], store["l2"] = self._kernel.regularizer.l1, self._kernel.regularizer.l2

    def load_own_variables(self, store):
        super().load_own_variables(store)
        if self.built:
            self._kernel.regularizer.l1.assign(store["l1"])
            self._kernel.regularizer.l2.assign(store["l2"])


def build_mlp(
    n_features_in,
    n_outputs=1,
    *,
    hidden_layer_sizes=(15,),
    activation="relu",
    dropout=0.0,
    l1=0.0,
    l2=0.0,
    output_activation=None,
    loss="mse",
    optimizer="adam",
    learning_rate=1e-3,
):
    """Build and compile a fully connected Keras network.

    Parameters
    ----------
    n_features_in : int
        Width of the input.

    n_outputs : int, default=1
        Width of the output layer.

    hidden_layer_sizes : tuple of int, default=(15,)
        Width of each hidden layer, in order; ``()`` builds a linear model
        (inputs straight to the output layer).

    activation : str, default="relu"
        Activation of the hidden layers (any Keras activation name).

    dropout : float, default=0.0
        Dropout rate after each hidden layer; 0 adds no dropout layer.

    l1, l2 : float, default=0.0
        L1 and L2 penalties on the kernels of every Dense layer (Keras'
        ``L1L2`` term). Their values are non-trainable weights of the layers,
        not constants of the compiled steps: networks that differ only in
        ``l1`` and ``l2`` compile once (module docstring).

    output_activation : str or None, default=None
        Activation of the output layer (e.g. ``"sigmoid"``, ``"softmax"``);
        None is linear.

    loss : str, default="mse"
        Keras loss name.

    optimizer : str, default="adam"
        Keras optimizer name (``"adam"``, ``"sgd"``, ``"rmsprop"``, ...).

    learning_rate : float, default=1e-3
        The optimizer's learning rate.

    Returns
    -------
    model : keras.Model
        The compiled model.

    Examples
    --------
    >>> from distsearch.models import build_mlp
    >>> net = build_mlp(4, hidden_layer_sizes=(15, 15), dropout=0.1)
    >>> [layer.__class__.__name__ for layer in net.layers]
    ['InputLayer', 'Dense', 'Dropout', 'Dense', 'Dropout', 'Dense']
    >>> net.output_shape
    (None, 1)
    """
    def dense(width, activation):
        if l1 or l2:
            return _PenalizedDense(width, l1=l1, l2=l2, activation=activation)
        return keras.layers.Dense(width, activation=activation)

    inputs = keras.Input(shape=(n_features_in,))
    hidden = inputs
    for width in hidden_layer_sizes:
        hidden = dense(width, activation)(hidden)
        if dropout:
            hidden = keras.layers.Dropout(dropout)(hidden)
    outputs = dense(n_outputs, output_activation)(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.get(
            {"class_name": optimizer, "config": {"learning_rate": learning_rate}}
        ),
        loss=loss,
    )
    return model


class _KerasModel:
    """Parameters, seeding and early stopping shared by the Keras helpers.

    Mixed in before a scikeras wrapper. Only the parameters of ``__init__``
    are the estimator's parameters; the scikeras settings they replace are
    fixed class attributes below (scikeras lists ``__dict__`` as params).
    """

    # The parameter that counts its iterations: what successive halving
    # grows by default (HalvingMultiModelSearchCV's resource="auto").
    _iteration_param = "epochs"

    # scikeras settings that are not parameters of these helpers.
    model = None
    build_fn = None
    warm_start = False
    callbacks = None
    metrics = None
    validation_split = 0.0
    validation_batch_size = None
    shuffle = True
    run_eagerly = False
    class_weight = None
    loss = None

    def __init__(
        self,
        hidden_layer_sizes=(15,),
        activation="relu",
        dropout=0.0,
        l1=0.0,
        l2=0.0,
        optimizer="adam",
        learning_rate=1e-3,
        epochs=200,
        batch_size=32,
        validation_fraction=0.1,
        patience=10,
        min_delta=0.0,
        random_state=None,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.l1 = l1
        self.l2 = l2
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_delta = min_delta
        self.random_state = random_state
        self.verbose = verbose

    # scikeras seeds inside ``tensorflow_random_state``, which switches
    # TensorFlow's op determinism on; we seed with keras.utils.set_random_seed
    # instead (see ``_keras_build_fn``), so scikeras's own seed is always None.
    @property
    def _random_state(self):
        return None

    @_random_state.setter
    def _random_state(self, value):
        pass

    def __sklearn_tags__(self):
        # scikeras 0.13 puts its Regressor/ClassifierMixin after BaseWrapper,
        # so on scikit-learn >= 1.7 its tags say nothing about the estimator
        # type (is_regressor, is_classifier, StratifiedKFold, roc_auc break).
        tags = super().__sklearn_tags__()
        classifier = self._estimator_type == "classifier"
        tags.estimator_type = self._estimator_type
        tags.classifier_tags = ClassifierTags() if classifier else None
        tags.regressor_tags = None if classifier else RegressorTags()
        tags.target_tags.required = True
        tags.input_tags.sparse = False
        return tags

    def _output(self, meta):
        """(n_outputs, output activation, loss) for the target seen in fit."""
        raise NotImplementedError

    def _keras_build_fn(self, meta):
        _cache_compilations()
        if self._seed is not None:
            keras.utils.set_random_seed(self._seed)
        n_outputs, output_activation, loss = self._output(meta)
        return build_mlp(
            meta["n_features_in_"],
            n_outputs,
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            activation=self.activation,
            dropout=self.dropout,
            l1=self.l1,
            l2=self.l2,
            output_activation=output_activation,
            loss=loss,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
        )

    def fit(self, X, y, sample_weight=None):
        """Fit on (X, y), early-stopping on an inner split of these rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        if sparse.issparse(X):
            raise TypeError(
                f"{type(self).__name__} does not take sparse input; pass a dense "
                "array (e.g. X.toarray())."
            )
        return super().fit(X, y, sample_weight=sample_weight)

    def _initialize(self, X, y=None):
        # Every fit (and a first partial_fit) starts here: draw the seed of
        # the network and of the inner split.
        self._seed = int_seed(self.random_state)
        return super()._initialize(X, y)

    def _fit_keras_model(
        self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
    ):
        # X and y are validated and encoded here, so the split is made on
        # exactly what Keras trains on.
        if self.patience is None:
            self._fit_callbacks = []
            super()._fit_keras_model(
                X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs
            )
            self.validation_indices_ = np.array([], dtype=np.intp)
            self.best_iteration_ = len(self.history_["loss"])
            return
        train, val = _inner_split(
            y, self.validation_fraction, self._estimator_type == "classifier", self._seed
        )
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=self.patience,
            min_delta=self.min_delta,
            restore_best_weights=True,
        )
        self._fit_callbacks = [stopper]
        validation = (X[val], y[val])
        if sample_weight is not None:
            validation += (sample_weight[val],)
            sample_weight = sample_weight[train]
        super()._fit_keras_model(
            X[train],
            y[train],
            sample_weight,
            warm_start,
            epochs,
            initial_epoch,
            validation_data=validation,
            **kwargs,
        )
        self.validation_indices_ = val
        self.best_iteration_ = int(stopper.best_epoch) + 1
        # The stopper holds the model and a copy of its weights: not kept.
        self._fit_callbacks = []

    def fixed_iteration_params(self, n_iterations):
        """Parameters that make ``fit`` run ``n_iterations`` epochs on all rows.

        Parameters
        ----------
        n_iterations : int
            Number of epochs.

        Returns
        -------
        params : dict
            For ``set_params``: ``epochs`` set, early stopping off.
        """
        return {"epochs": int(n_iterations), "patience": None}


class KerasRegressor(_KerasModel, wrappers.KerasRegressor):
    def _output(self, meta):
        return meta["n_outputs_"], None, "mse"


class KerasClassifier(_KerasModel, wrappers.KerasClassifier):
    def _output(self, meta):
        if meta["target_type_"] == "binary":
            return 1, "sigmoid", "binary_crossentropy"
        return meta["n_classes_"], "softmax", "sparse_categorical_crossentropy"


_PARAMETERS = """
    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(15,)
        Width of each hidden layer, in order; ``()`` is a linear model.

    activation : str, default="relu"
        Activation of the hidden layers (any Keras activation name).

    dropout : float, default=0.0
        Dropout rate after each hidden layer.

    l1, l2 : float, default=0.0
        L1 and L2 penalties on the kernels of every Dense layer.

    optimizer : str, default="adam"
        Keras optimizer name.

    learning_rate : float, default=1e-3
        The optimizer's learning rate.

    epochs : int, default=200
        Maximum number of epochs; early stopping usually keeps fewer.

    batch_size : int, default=32
        Rows per gradient step.

    validation_fraction : float, default=0.1
        Share of the fit rows held out for early stopping (an inner split{stratified});
        unused when ``patience`` is None.

    patience : int or None, default=10
        Stop when the validation loss has not improved by more than
        ``min_delta`` for this many epochs, and restore the best epoch's
        weights. None trains all ``epochs`` on all the rows.

    min_delta : float, default=0.0
        Minimum improvement of the validation loss that counts.

    random_state : int, RandomState instance or None, default=None
        Seeds the inner split and Keras (``keras.utils.set_random_seed``,
        reproducible on every Keras backend, without leaving TensorFlow's op
        determinism switched on). An int gives reproducible fits.

    verbose : int, default=0
        Keras verbosity.

    Attributes
    ----------
    model_ : keras.Model
        The fitted network (built by :func:`build_mlp`).

    best_iteration_ : int
        Epochs kept (the best epoch under early stopping, else ``epochs``).

    validation_indices_ : ndarray of int
        Positions, in the rows given to ``fit``, of the rows early stopping
        used (empty without early stopping).

    history_ : dict
        The per-epoch losses, as scikeras records them.

    n_features_in_ : int
        Number of features seen during ``fit``.
"""

KerasRegressor.__doc__ = (
    """Keras regressor (a fully connected network) with early stopping on an inner split.

    A clone-safe scikit-learn estimator on scikeras; see :mod:`distsearch.models`
    for the early-stopping protocol. Needs the ``keras`` extra.
"""
    + _PARAMETERS.format(stratified="")
    + """
    Examples
    --------
    >>> from sklearn.base import clone, is_regressor
    >>> from distsearch.models import KerasRegressor
    >>> model = KerasRegressor(hidden_layer_sizes=(15, 15), epochs=100, patience=5,
    ...                        random_state=0)
    >>> is_regressor(model), clone(model).get_params()["hidden_layer_sizes"]
    (True, (15, 15))
    """
)

KerasClassifier.__doc__ = (
    """Keras classifier (a fully connected network) with early stopping on an inner split.

    A clone-safe scikit-learn estimator on scikeras; see :mod:`distsearch.models`
    for the early-stopping protocol. Binary targets get one sigmoid output,
    multiclass targets a softmax layer. Needs the ``keras`` extra.
"""
    + _PARAMETERS.format(stratified=", stratified by class")
    + """
    classes_ : ndarray of shape (n_classes,)
        The class labels.

    Examples
    --------
    >>> from sklearn.base import is_classifier
    >>> from distsearch.models import KerasClassifier
    >>> model = KerasClassifier(hidden_layer_sizes=(), epochs=50, random_state=0)
    >>> is_classifier(model), model.get_params()["validation_fraction"]
    (True, 0.1)
    """
)
