"""What a fit leaves, read by both layers: a failed fit's error text, a model's best iteration.

Invariants: imports nothing of distsearch (the worker-side evaluation, the
driver and the reports all build on it); pure functions of their argument.
The search keeps a failed fit's whole traceback (``fit_errors_``) and a
model's best iteration per fold (``cv_results_``); these helpers are the one
way both the estimator and the application read them.
"""


def _exception_text(traceback):
    r"""The exception of a formatted traceback (``"ValueError: ..."``), without its frames.

    Examples
    --------
    >>> _exception_text(
    ...     'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
    ...     '    f()\nValueError: bad\nvalue'
    ... )
    'ValueError: bad\nvalue'
    """
    lines = traceback.rstrip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    start = frames[-1] + 1 if frames else 0
    while start < len(lines) and lines[start].startswith(" "):
        start += 1  # the frame's code line and its ^^^ markers
    return "\n".join(lines[start:]).strip() or lines[-1].strip()


def _best_iteration(estimator):
    """The best iteration a fitted model reports, or None.

    A model reports it with a positive integer attribute ``best_iteration_``
    (boosting rounds or epochs kept by early stopping); for a pipeline the
    final step is asked.
    """
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    value = getattr(final, "best_iteration_", None)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None
