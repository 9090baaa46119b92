"""Library versions: the one helper that answers "which version of X?".

Two different questions are asked, and ``of`` names which:

- ``of="module"``: the ``__version__`` of the module already imported in
  this process under that name (``"sklearn"``, ``"lightgbm"``), i.e. the
  code a fit actually runs, wherever it was imported from. The checkpoint
  keys record these.
- ``of="distribution"``: the version of the installed distribution of that
  name (``"scikit-learn"``), from its metadata, i.e. what ``pip install``
  reinstalls. The saved model and the run's summary record these, and
  ``load_model`` compares them with what is installed.

Invariants:

- Nothing is imported: a module not yet imported, or one without
  ``__version__``, and a distribution that is not installed, answer None.
- The answer has one entry per name asked, in the order asked.
"""

import importlib.metadata
import sys

_SOURCES = ("module", "distribution")


def versions(names, *, of):
    """The version of each of ``names`` (None where there is none).

    Parameters
    ----------
    names : iterable of str
        Module names (``of="module"``) or distribution names
        (``of="distribution"``).
    of : {"module", "distribution"}
        Whether to read each imported module's ``__version__`` or each
        installed distribution's metadata.

    Returns
    -------
    dict
        ``{name: version or None}``, in the order of ``names``.

    Examples
    --------
    >>> import numpy
    >>> versions(["numpy"], of="module") == {"numpy": numpy.__version__}
    True
    >>> versions(["no-such-distribution"], of="distribution")
    {'no-such-distribution': None}
    """
    if of == "module":
        return {name: getattr(sys.modules.get(name), "__version__", None) for name in names}
    if of == "distribution":
        return {name: _distribution_version(name) for name in names}
    raise ValueError(f"of must be one of {_SOURCES}, got {of!r}")


def _distribution_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
