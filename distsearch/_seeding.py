"""Seeds: the one place distsearch turns a ``random_state`` into int seeds.

Two operations, each implemented once:

- :func:`int_seed`: the int seed (or None) a ``random_state`` stands for, for
  a library that takes an int (LightGBM, Keras, Optuna's samplers, a model's
  inner validation split).
- :func:`derived_seed`: the seed of one part (a model of a search, a round of
  the Optuna search, a block of a generated data set) of something seeded
  with an int.

Invariants:

- An int ``random_state`` gives an int seed without drawing anything; None
  stays None (unseeded); a ``RandomState`` instance draws one int in
  ``[0, 2**31 - 1)``, advancing it, as scikit-learn's own estimators do.
- A derived seed depends only on the seed and the part's keys: the same for
  the same ``(seed, keys)`` in any process, independent of the other parts
  and of their order, and in ``[0, 2**31)``.
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state


def int_seed(random_state):
    """An int seed (or None) from a scikit-learn ``random_state``.

    Parameters
    ----------
    random_state : int, RandomState instance or None

    Returns
    -------
    int or None

    Examples
    --------
    >>> import numpy as np
    >>> int_seed(None) is None, int_seed(np.int64(3))
    (True, 3)
    >>> int_seed(np.random.RandomState(0)) == int_seed(np.random.RandomState(0))
    True
    """
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def derived_seed(seed, *keys):
    """The seed of the part named by ``keys`` of something seeded ``seed``.

    Parameters
    ----------
    seed : int or None
        None gives None (the part is unseeded too).
    *keys : int
        What names the part (an index, a count, a hash of a name).

    Returns
    -------
    int or None

    Examples
    --------
    >>> derived_seed(0, 1) == derived_seed(0, 1) != derived_seed(0, 2)
    True
    >>> derived_seed(None, 1) is None
    True
    """
    if seed is None:
        return None
    entropy = [int(seed), *(int(key) for key in keys)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)
