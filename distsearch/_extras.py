"""Optional packages: one check, one message naming the extra that installs them.

A bare ``pip install distsearch`` has scikit-learn, NumPy, SciPy, pandas and
joblib; everything else is an extra (``pyproject.toml``). Invariants:

- whatever a run will need is checked before its first fit: the engine of a
  backend, tqdm for ``progress=True``, the library of a model helper (an
  estimator class lists it in ``_required_packages``, found in pipelines and
  other meta-estimators through ``get_params``); the error is an
  :class:`ImportError` that names the package and the extra, as
  ``pip install "distsearch[lightgbm]"``;
- a package is looked up without being imported (:func:`available`), so
  that a check costs nothing when it passes.

This module imports nothing of the package.
"""

import importlib
import importlib.util


def available(module):
    """Whether ``module`` can be imported (it is not imported).

    Examples
    --------
    >>> available("numpy"), available("no_such_module_here")
    (True, False)
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing; a None in sys.modules
        return False


def missing(module, extra, what):
    """The ImportError for ``what`` when ``module`` (of ``extra``) is not installed."""
    return ImportError(
        f"{what} needs the {module.split('.')[0]!r} package: pip install \"distsearch[{extra}]\""
    )


def check_installed(modules, extra, what):
    """Raise :func:`missing`'s error for the first of ``modules`` not installed; imports none."""
    for module in modules:
        if not available(module):
            raise missing(module, extra, what)


def require(module, extra, what):
    """Import and return ``module``; an ImportError naming ``extra`` if it is missing.

    Parameters
    ----------
    module : str
        The module to import.
    extra : str
        The distsearch extra that installs it.
    what : str
        What needs it, for the message (``"backend='dask'"``).

    Examples
    --------
    >>> require("no_such_module_here", "plot", "plot_scores")
    Traceback (most recent call last):
    ...
    ImportError: plot_scores needs the 'no_such_module_here' package: pip install "distsearch[plot]"
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(module, extra, what) from exc


def _estimators(estimator):
    """``estimator`` and every estimator among its (deep) parameters."""
    yield estimator
    get_params = getattr(estimator, "get_params", None)
    if get_params is None or isinstance(estimator, type):
        return
    for value in get_params(deep=True).values():
        if hasattr(value, "get_params") and not isinstance(value, type):
            yield value


def check_estimator_packages(name, estimator):
    """Raise an ImportError naming the extra when a package ``estimator`` needs is missing.

    Parameters
    ----------
    name : str
        The model's name, for the message.
    estimator : estimator
        The model; it and the estimators among its parameters (pipeline
        steps, ...) may list ``(module, extra)`` pairs in a
        ``_required_packages`` class attribute.
    """
    for part in _estimators(estimator):
        for module, extra in getattr(type(part), "_required_packages", ()):
            check_installed([module], extra, f"model {name!r} ({type(part).__name__})")
