"""Progress of a search: a tqdm bar over all its fits, fed by task completions.

The bar advances by one for every finished (candidate, fold) fit, wherever it
ran (joblib workers, dask or ray workers), because it is fed by the search's
own completion loop rather than from inside the workers. Its postfix shows
the best *mean* cross-validated score so far: a candidate counts once all its
folds are done, scored with the refit metric (the first metric when refit
names none).

Where it is drawn: in a notebook, a widget (tqdm's notebook bar; ipywidgets
is in the ``progress`` extra) or, without ipywidgets, tqdm's text bar (which
the notebook redraws in place); in a terminal, tqdm's text bar on stderr;
anywhere else (stderr redirected to a file or a pipe: a log, CI), no ``\r``
frames but a plain line at each tenth of the fits and at the end.
"""

import math
import sys
import time

from ._extras import available, require


def _check_progress(progress):
    """Raise before any work if ``progress`` is asked for without tqdm."""
    if progress:
        require("tqdm", "progress", "progress=True")


def _in_notebook():
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _is_terminal(stream):
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


class _LogLines:
    """A bar for logs: one plain line per tenth of the fits, and at the end."""

    def __init__(self, total, unit, desc):
        self.total, self.unit, self.desc = total, unit, desc
        self.n, self.postfix, self._shown = 0, "", 0
        self._start = time.perf_counter()

    def set_postfix(self, refresh=False, **values):
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_description(self, desc, refresh=False):
        self.desc = desc

    def refresh(self):
        pass  # a line is printed at each tenth of the fits, not on demand

    def update(self, n):
        self.n += n
        if self.n * 10 // max(self.total, 1) > self._shown * 10 // max(self.total, 1):
            self._line()

    def _line(self):
        self._shown = self.n
        elapsed = time.perf_counter() - self._start
        print(
            f"{self.desc}: {self.n}/{self.total} {self.unit}s [{elapsed:.0f} s]"
            + (f", {self.postfix}" if self.postfix else ""),
            file=sys.stderr,
            flush=True,
        )

    def close(self):
        if self._shown != self.n or self.n == 0:
            self._line()


def _bar(total, unit, desc):
    """A progress bar where it can be shown (see the module docstring)."""
    if _in_notebook():
        if available("ipywidgets"):
            from tqdm.notebook import tqdm
        else:
            from tqdm.std import tqdm
        return tqdm(total=total, unit=unit, desc=desc)
    if _is_terminal(sys.stderr):
        from tqdm.std import tqdm

        return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr)
    return _LogLines(total, unit, desc)


class _Progress:
    """The bar of one search; does nothing when ``enabled`` is False.

    Parameters
    ----------
    enabled : bool
    n_candidates, n_splits : int
    metric : str or None
        The key of the score shown when the scorer returns several; the first
        one when None or absent.
    """

    def __init__(self, enabled, n_candidates, n_splits, metric):
        self._bar = None
        if not enabled:
            return
        self._bar = _bar(n_candidates * n_splits, "fit", "search")
        self._n_splits = n_splits
        self._metric = metric
        self._fold_scores = {}
        self.best = -math.inf

    def extend(self, n_candidates, description=None):
        """Add the fits of ``n_candidates`` more candidates (a new round).

        ``description`` (e.g. ``"round 2"``) replaces the bar's label.
        """
        if self._bar is None:
            return
        self._bar.total += n_candidates * self._n_splits
        if description is not None:
            self._bar.set_description(description, refresh=False)
        self._bar.refresh()

    def drop(self, n_fits):
        """Take ``n_fits`` fits that will not run (cancelled) off the total."""
        if self._bar is None or not n_fits:
            return
        self._bar.total -= n_fits
        self._bar.refresh()

    def update(self, cand_idx, result):
        """Count a finished fit of candidate ``cand_idx`` with its result.

        ``cand_idx`` numbers the candidates of the whole fit (all rounds);
        ``result`` is the fit's ``_fit_and_score`` dict.
        """
        if self._bar is None:
            return
        score = result["test_scores"]
        if isinstance(score, dict):
            score = score.get(self._metric, next(iter(score.values())))
        scores = self._fold_scores.setdefault(cand_idx, [])
        scores.append(score)
        if len(scores) == self._n_splits:
            del self._fold_scores[cand_idx]
            mean = sum(scores) / len(scores)
            if mean > self.best:  # False for NaN (a failed fit)
                self.best = mean
                self._bar.set_postfix(best=f"{mean:.4g}", refresh=False)
        self._bar.update(1)

    def close(self):
        if self._bar is not None:
            self._bar.close()
