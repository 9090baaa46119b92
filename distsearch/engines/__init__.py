"""Engines: where a search's (candidate, fold) fits run.

``MultiModelSearchCV(backend=...)`` takes the name of a registered engine
(``"loky"``, ``"threading"``, ``"dask"``, ``"ray"``, ``"spark"``, or one
registered with :func:`register_engine`), an :class:`Engine` object carrying
its own options (``backend=DaskEngine(address=..., resources=...)``), or
None (the active joblib backend, whatever ``joblib.parallel_config`` sets).

The registry is the one list of engine names: parameter validation, the
command line and the documentation read it. It is lazy: an entry is the
path of its class, imported when the engine is first used, so importing
distsearch imports no engine library (joblib aside).

Public names
------------
:class:`Engine`, :class:`FuturesEngine`, :class:`WorkerLost`, :class:`Rerun`,
:func:`register_engine`, :func:`engine_names`, :func:`get_engine`, and the
built-in engines :class:`JoblibEngine`, :class:`DaskEngine`,
:class:`RayEngine`, :class:`SparkEngine` (imported when first asked for).
"""

import importlib

from ._base import ClusterLost, Engine, FuturesEngine, Rerun, WorkerLost, check_reachable

# name -> (class or "module:Class", keyword arguments of from_search).
_REGISTRY = {
    "loky": ("distsearch.engines._joblib:JoblibEngine", {"backend": "loky"}),
    "threading": ("distsearch.engines._joblib:JoblibEngine", {"backend": "threading"}),
    "dask": ("distsearch.engines._dask:DaskEngine", {}),
    "ray": ("distsearch.engines._ray:RayEngine", {}),
    "spark": ("distsearch.engines._spark:SparkEngine", {}),
}

_LAZY = {
    "JoblibEngine": "distsearch.engines._joblib",
    "DaskEngine": "distsearch.engines._dask",
    "RayEngine": "distsearch.engines._ray",
    "SparkEngine": "distsearch.engines._spark",
}

__all__ = [
    "Engine",
    "FuturesEngine",
    "WorkerLost",
    "Rerun",
    "ClusterLost",
    "check_reachable",
    "register_engine",
    "engine_names",
    "get_engine",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    # The lazy engine classes too, so that tools listing the module (the API
    # docs, completion) see every public name under this public path.
    return sorted(set(globals()) | set(__all__))


def register_engine(name, engine, **options):
    """Make ``backend=name`` select ``engine``.

    Parameters
    ----------
    name : str
        The engine's name (replaces an engine registered under it).
    engine : Engine subclass or str
        The class, or its path ``"package.module:Class"`` (imported when the
        engine is first used, so that registering costs no import).
    **options
        Keyword arguments given to ``engine.from_search`` with the search's
        ``n_jobs``, ``address`` and ``pre_dispatch``.

    Examples
    --------
    >>> from distsearch.engines import register_engine, engine_names
    >>> register_engine("my-dask", "distsearch.engines._dask:DaskEngine")
    >>> "my-dask" in engine_names()
    True
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"An engine name must be a non-empty string, got {name!r}.")
    if not (isinstance(engine, str) and ":" in engine) and not (
        isinstance(engine, type) and issubclass(engine, Engine)
    ):
        raise TypeError(
            f"engine must be an Engine subclass or a 'module:Class' path, got {engine!r}."
        )
    _REGISTRY[name] = (engine, dict(options))


def engine_names():
    """The names ``backend=`` accepts, in registration order.

    Examples
    --------
    >>> from distsearch.engines import engine_names
    >>> engine_names()[:5]
    ('loky', 'threading', 'dask', 'ray', 'spark')
    """
    return tuple(_REGISTRY)


def _engine_class(name):
    target, options = _REGISTRY[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target, options


def get_engine(backend=None, *, n_jobs=None, address=None, pre_dispatch="2*n_jobs"):
    """The engine a search runs on, checked before any work.

    Parameters
    ----------
    backend : str, Engine or None
        A registered name, an engine object (used as it is: its own options
        apply, so ``n_jobs`` and ``address`` must be left at None), or None
        for the active joblib backend.
    n_jobs, address, pre_dispatch
        The search's parameters, given to a named engine.

    Returns
    -------
    Engine

    Raises
    ------
    ValueError
        For an unknown name, or options the engine does not take.
    ImportError
        When the engine's library is missing; the message names the extra
        that installs it.

    Examples
    --------
    >>> from distsearch.engines import get_engine
    >>> get_engine("threading", n_jobs=2)
    JoblibEngine(backend='threading', n_jobs=2)
    """
    if isinstance(backend, Engine):
        for option, value in (("address", address), ("n_jobs", n_jobs)):
            if value is not None:
                raise ValueError(
                    f"{option}={value!r} cannot be combined with an engine object "
                    f"({backend!r}); give the engine its own options instead."
                )
        engine = backend
    elif backend is None or isinstance(backend, str):
        name = "loky" if backend is None else backend
        if name not in _REGISTRY:
            raise ValueError(
                f"backend={backend!r} is not one of {(None,) + engine_names()} "
                "nor an Engine object; register an engine with "
                "distsearch.engines.register_engine."
            )
        cls, options = _engine_class(name)
        if backend is None:
            options = {**options, "backend": None}
        engine = cls.from_search(
            n_jobs=n_jobs, address=address, pre_dispatch=pre_dispatch, **options
        )
    else:
        raise TypeError(
            f"backend must be a registered engine name, an Engine object or None, "
            f"got {backend!r}."
        )
    engine.check()
    return engine
