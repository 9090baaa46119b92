"""Progress of a search: a tqdm bar over all its fits, fed by task completions.

The bar advances by one for every finished (candidate, fold) fit, wherever it
ran (joblib workers, dask or ray workers), because it is fed by the search's
own completion loop rather than from inside the workers. Its postfix shows
the best *mean* cross-validated score so far: a candidate counts once all its
folds are done, scored with the refit metric (the first metric when refit
names none).
"""

import math


def _check_progress(progress):
    """Raise before any work if ``progress`` is asked for without tqdm."""
    if progress:
        try:
            import tqdm  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                'progress=True needs the tqdm package: pip install "distsearch[progress]"'
            ) from exc


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
        from tqdm.auto import tqdm

        self._bar = tqdm(total=n_candidates * n_splits, unit="fit", desc="search")
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
