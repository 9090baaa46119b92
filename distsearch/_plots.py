"""Plots of a fitted search: per-fold scores and score against hyperparameters.

Invariants:

- every function draws on a new :class:`matplotlib.figure.Figure` without
  pyplot (no GUI backend, no global state) and returns it;
- only the search's public results are read (``cv_results_``, ``n_splits_``)
  plus its model list for the spaces (to draw a log axis where a space is
  log-scaled and a categorical axis where it is a list);
- a candidate without a score (NaN mean) is left out of the hyperparameter
  plots, never drawn at a made-up value.
"""

import numpy as np

from ._spaces import _is_distribution, _subspaces


def _figure(**kwargs):
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def plot_scores(search, metric):
    """Box plot of every candidate's per-fold scores, in rank order.

    One box per candidate that has scores (failed folds are left out; a
    candidate with no score keeps its tick, marked "failed"), coloured by
    model. Each box patch and its median line have the ``gid``
    ``"<rank> <model>"``. Drawn for the tournament's run folder and by
    ``MultiModelSearchCV.plot_scores``.

    Parameters
    ----------
    search : MultiModelSearchCV
        A fitted search.
    metric : str
        The metric to plot and rank by (``"score"`` for a single metric).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Patch

    from ._results import split_scores

    results = search.cv_results_
    ranks = results[f"rank_test_{metric}"]
    names = results.get("model", np.full(len(ranks), type(search.estimator).__name__))
    scores = split_scores(search, metric)
    models = list(dict.fromkeys(names))
    colours = {m: f"C{i}" for i, m in enumerate(models)}
    order = np.argsort(ranks, kind="stable")
    fig = _figure(figsize=(max(6.0, 0.5 * len(order) + 2), 5), layout="constrained")
    ax = fig.add_subplot()
    labels = []
    for position, candidate in enumerate(order, start=1):
        values = scores[candidate][~np.isnan(scores[candidate])]
        label = f"{ranks[candidate]} {names[candidate]}"
        labels.append(label if len(values) else f"{label} (failed)")
        if not len(values):
            continue
        parts = ax.boxplot(values, positions=[position], widths=0.6, patch_artist=True)
        box = parts["boxes"][0]
        box.set_facecolor(colours[names[candidate]])
        box.set_alpha(0.75)
        box.set_gid(label)
        parts["medians"][0].set_color("black")
        parts["medians"][0].set_gid(label)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=45, ha="right")
    ax.set_xlim(0.3, len(labels) + 0.7)
    ax.set_xlabel("candidate (rank and model), best first")
    ax.set_ylabel(f"{metric}, per fold")
    ax.set_title(
        f"Cross-validated {metric} of {len(labels)} candidates over "
        f"{search.n_splits_} folds"
    )
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        handles=[Patch(facecolor=colours[m], alpha=0.75, label=m) for m in models],
        title="model",
        loc="best",
    )
    return fig


def _is_log(distribution):
    dist = getattr(distribution, "dist", None)
    return getattr(dist, "name", None) in ("loguniform", "reciprocal")


def _axes_of(search, model):
    """Each searched parameter of ``model``: (name, kind, categories).

    ``kind`` is ``"log"`` for a log-scaled distribution, ``"linear"`` for
    another numeric distribution and ``"categorical"`` for a list of values
    (its categories in the order listed, over every subspace).
    """
    (entry,) = [m for m in search._models() if not search._multi_model or m.name == model]
    axes = {}
    for sub in _subspaces(entry):
        for key, values in sub.items():
            if _is_distribution(values):
                kind = "log" if _is_log(values) else "linear"
                axes.setdefault(key, (kind, []))
            else:
                kind, categories = axes.setdefault(key, ("categorical", []))
                for value in values:
                    if not any(_same(value, c) for c in categories):
                        categories.append(value)
    return [(name, kind, categories) for name, (kind, categories) in axes.items()]


def _display_names(axes):
    """The parameters' names for labels: a prefix shared by all (``model__``) dropped."""
    names = [name for name, _, _ in axes]
    prefixes = {name.rpartition("__")[0] for name in names}
    if len(prefixes) == 1 and next(iter(prefixes)):
        cut = len(next(iter(prefixes))) + 2
        return [name[cut:] for name in names]
    return names


def _same(a, b):
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - arrays, estimators: compare identity
        return a is b


def _category_index(value, categories):
    return next(i for i, c in enumerate(categories) if _same(value, c))


def _label(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if hasattr(value, "get_params"):
        return type(value).__name__
    return str(value)


def _model_rows(search, model, metric):
    """The candidates of ``model`` that have a mean score: indices, means, sems."""
    from ._results import sem, split_scores

    results = search.cv_results_
    means = np.asarray(results[f"mean_test_{metric}"], dtype=float)
    if search._multi_model:
        rows = np.flatnonzero(np.asarray(results["model"]) == model)
    else:
        rows = np.arange(len(means))
    rows = rows[np.isfinite(means[rows])]
    return rows, means, sem(split_scores(search, metric))


def _check_model(search, model):
    """The model to plot: ``model``, or the winner's (the only one, drop-in)."""
    if not search._multi_model:
        return type(search.estimator).__name__
    names = [m.name for m in search._models()]
    if model is None:
        results = search.cv_results_
        return results["model"][int(np.argmin(results[f"rank_test_{search._leaderboard_metric()}"]))]
    if model not in names:
        raise ValueError(f"model={model!r} is not a model of this search; its models are {names}.")
    return model


def plot_hyperparameters(search, model, metric):
    """The body of ``MultiModelSearchCV.plot_hyperparameters``: one panel per parameter.

    Each panel is a scatter of the model's candidates: x their value of the
    parameter, y their mean CV score with its standard error as an error
    bar; the model's best candidate is ringed. A log-scaled distribution
    gets a log x axis, a list of values a categorical axis (one tick per
    value, in the order listed). Each scatter has the ``gid``
    ``"<parameter>"``; the figure is titled with the model's name.
    """
    rows, means, sems = _model_rows(search, model, metric)
    axes = _axes_of(search, model)
    params = search.cv_results_["params"]
    n = max(len(axes), 1)
    columns = min(n, 3)
    fig = _figure(figsize=(4.2 * columns, 3.6 * -(-n // columns)), layout="constrained")
    best = rows[np.argmax(means[rows])] if len(rows) else None
    labels = _display_names(axes)
    for position, (name, kind, categories) in enumerate(axes, start=1):
        ax = fig.add_subplot(-(-n // columns), columns, position)
        have = [i for i in rows if name in params[i]]
        if kind == "categorical":
            x = [_category_index(params[i][name], categories) for i in have]
            ax.set_xticks(range(len(categories)), [_label(c) for c in categories])
            ax.set_xlim(-0.5, len(categories) - 0.5)
        else:
            x = [float(params[i][name]) for i in have]
            if kind == "log":
                ax.set_xscale("log")
        y = [means[i] for i in have]
        ax.errorbar(x, y, yerr=[sems[i] for i in have], fmt="none", ecolor="grey", alpha=0.6)
        ax.scatter(x, y, s=25, color="C0", gid=name, zorder=3)
        if best is not None and best in have:
            bx = x[have.index(best)]
            ax.scatter([bx], [means[best]], s=120, facecolors="none", edgecolors="C3",
                       linewidths=2, zorder=4, label="best", gid=f"{name} best")
            ax.legend(loc="best")
        ax.set_xlabel(labels[position - 1] + (" (log scale)" if kind == "log" else ""))
        ax.set_ylabel(f"mean {metric}")
        ax.grid(alpha=0.3)
    if not axes:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no searched hyperparameter", ha="center", va="center")
        ax.set_axis_off()
    fig.suptitle(f"{model}: cross-validated {metric} against each hyperparameter ({len(rows)} candidates)")
    return fig


def _positions(values, kind, categories):
    """``values`` of one axis mapped onto [0, 1] (NaN where missing)."""
    if kind == "categorical":
        index = np.array(
            [np.nan if v is _MISSING else _category_index(v, categories) for v in values], dtype=float
        )
        return index / max(len(categories) - 1, 1)
    data = np.array([np.nan if v is _MISSING else float(v) for v in values], dtype=float)
    if kind == "log":
        data = np.log10(data)
    low, high = np.nanmin(data), np.nanmax(data)
    return (data - low) / (high - low) if high > low else np.full(len(data), 0.5)


_MISSING = object()


def plot_parallel_coordinates(search, model, metric):
    """The body of ``MultiModelSearchCV.plot_parallel_coordinates``.

    One vertical axis per searched parameter and a last one for the mean CV
    score; each candidate of the model is a line across them, coloured by
    its score (the best drawn thickest, on top). Numeric axes run from the
    smallest to the largest value tried (in log10 for a log-scaled
    distribution), categorical ones list their values. Each line has the
    ``gid`` ``"candidate <index in cv_results_>"``.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    rows, means, _ = _model_rows(search, model, metric)
    axes = _axes_of(search, model)
    params = search.cv_results_["params"]
    names = _display_names(axes) + [f"mean {metric}"]
    columns = [
        _positions([params[i].get(name, _MISSING) for i in rows], kind, categories)
        for name, kind, categories in axes
    ]
    scores = means[rows]
    columns.append(_positions(list(scores), "linear", []))
    fig = _figure(figsize=(max(6.0, 1.8 * len(names) + 1.5), 4.8), layout="constrained")
    ax = fig.add_subplot()
    norm = Normalize(np.min(scores) if len(rows) else 0, np.max(scores) if len(rows) else 1)
    cmap = colormaps["viridis"]
    order = np.argsort(scores, kind="stable")  # the best last, on top
    for j in order:
        y = [column[j] for column in columns]
        best = j == order[-1]
        ax.plot(range(len(names)), y, color=cmap(norm(scores[j])), linewidth=3 if best else 1.2,
                alpha=1.0 if best else 0.7, marker="o", markersize=3, gid=f"candidate {rows[j]}")
    for k, (name, kind, categories) in enumerate(axes + [(names[-1], "linear", [])]):
        ax.axvline(k, color="black", linewidth=0.8)
        if kind == "categorical":
            for index, value in enumerate(categories):
                ax.text(k + 0.03, index / max(len(categories) - 1, 1), _label(value), fontsize=8, va="center")
        else:
            values = scores if k == len(axes) else np.array(
                [float(params[i][name]) for i in rows if name in params[i]]
            )
            if len(values):
                ax.text(k + 0.03, 0, _label(float(np.min(values))), fontsize=8, va="bottom")
                ax.text(k + 0.03, 1, _label(float(np.max(values))), fontsize=8, va="top")
    ax.set_xticks(range(len(names)), [n + (" (log)" if k < len(axes) and axes[k][1] == "log" else "")
                                      for k, n in enumerate(names)], rotation=20, ha="right")
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(names) - 0.6)
    ax.set_ylim(-0.05, 1.05)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=f"mean {metric}")
    ax.set_title(f"{model}: {len(rows)} candidates across their hyperparameters")
    return fig


def check_plot_args(search, model, metric):
    """The (model, metric) to plot, checked; raises ValueError naming a bad one."""
    metrics = [k[len("rank_test_") :] for k in search.cv_results_ if k.startswith("rank_test_")]
    metric = search._leaderboard_metric() if metric is None else metric
    if metric not in metrics:
        raise ValueError(f"metric={metric!r} is not a metric of this search; its metrics are {metrics}.")
    return _check_model(search, model), metric

