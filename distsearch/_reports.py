"""The run folder of a tournament: summary, leaderboard, results table, plots.

``results/<run-id>/`` holds:

- ``summary.txt``: the data set, the ranked leaderboard (mean and standard
  error over the folds of every metric, best iterations, fit times), the best
  candidate of each model, failed candidates with their errors, the held-out
  scores of the winner and of the ensemble, the final model, timings, backend,
  seed and library versions;
- ``cv_results.csv``: the search's ``cv_results_``, one row per candidate;
- ``scores.png``: per-fold scores of every candidate, in rank order, coloured
  by model;
- ``predicted-vs-true.png`` (regression) or ``confusion-matrix.png`` and
  ``roc-curve.png`` (classification): the winner on the held-out set;
- ``model.joblib``: the final model and its metadata (written by the run).

The plots are drawn on :class:`matplotlib.figure.Figure` objects, without
pyplot, so no GUI backend or global state is involved; each plotting
function returns its figure.
"""

import json
import time
import warnings

import numpy as np
import pandas as pd

from ._dispatch import _best_iteration
from ._extras import available

SUMMARY = "summary.txt"
CV_RESULTS = "cv_results.csv"
SCORES_PLOT = "scores.png"
PREDICTED_PLOT = "predicted-vs-true.png"
CONFUSION_PLOT = "confusion-matrix.png"
ROC_PLOT = "roc-curve.png"


def _sem(split_scores):
    """Standard error of the mean over folds (ddof=1), ignoring NaN folds."""
    n = np.sum(~np.isnan(split_scores), axis=1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # fewer than 2 finite folds
        return np.nanstd(split_scores, axis=1, ddof=1) / np.sqrt(n)


def _split_scores(results, metric, n_splits):
    return np.column_stack([results[f"split{k}_test_{metric}"] for k in range(n_splits)])


def _short_params(params):
    """Candidate parameters without the pipeline's ``model__`` prefix."""
    return ", ".join(
        f"{k.removeprefix('model__')}={_fmt_value(v)}" for k, v in sorted(params.items())
    )


def _fmt_value(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return repr(value)


def leaderboard_frame(run):
    """The candidates in rank order: mean and standard error of every metric.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank``, ``model``, ``<metric> mean`` and ``<metric> sem``
        for each metric (the ranking one first), ``best iter`` when the
        models report one, ``fit s`` (mean fit time per fold) and ``params``.
    """
    results = run.search.cv_results_
    n_splits = run.search.n_splits_
    metrics = [run.rank_by] + [m for m in run.scoring if m != run.rank_by]
    table = {"rank": results[f"rank_test_{run.rank_by}"], "model": results["model"]}
    for metric in metrics:
        table[f"{metric} mean"] = results[f"mean_test_{metric}"]
        table[f"{metric} sem"] = _sem(_split_scores(results, metric, n_splits))
    if "mean_best_iteration" in results:
        table["best iter"] = results["mean_best_iteration"]
    table["fit s"] = results["mean_fit_time"]
    table["params"] = [_short_params(p) for p in results["params"]]
    frame = pd.DataFrame(table)
    frame.index.name = "candidate"
    return frame.sort_values("rank", kind="stable")


def _cell(column, value):
    if column.endswith((" mean", " sem")):
        return "nan" if pd.isna(value) else f"{value:.4f}"
    if column == "best iter":
        return "-" if pd.isna(value) else f"{value:.1f}"
    if column == "fit s":
        return f"{value:.2f}"
    return str(value)


def _table_text(frame):
    """A plain-text table: numbers right-aligned, the last column left-aligned."""
    columns = list(frame.columns)
    cells = [[_cell(c, v) for c, v in zip(columns, row)] for row in frame.itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values):
        padded = [
            v.ljust(w) if c in ("model", "params") else v.rjust(w)
            for c, v, w in zip(columns, values, widths)
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(columns)] + [line(r) for r in cells])


def leaderboard_text(run):
    """The ranked leaderboard as text, headed by its metric and fold count."""
    frame = leaderboard_frame(run)
    head = (
        f"Leaderboard: {len(frame)} candidates ranked by {run.rank_by} "
        f"(mean and standard error over {run.search.n_splits_} folds)"
    )
    return head + "\n" + _table_text(frame)


def _scores_text(scores):
    return ", ".join(f"{metric} = {value:.4f}" for metric, value in scores.items())


def summary_text(run, timings):
    """The whole ``summary.txt``."""
    search = run.search
    lines = [
        f"distsearch tournament {run.run_id}",
        f"config: {run.source}" + ("  (--quick size)" if run.quick else ""),
        f"seed: {run.seed}   backend: {run.backend}   n_jobs: {run.n_jobs}",
        "",
    ]
    if run.notes:
        lines += ["Seed config (metaflow-helper format): what each setting and key became"]
        lines += [f"  {note}" for note in run.notes] + [""]
    lines += [
        "Data set",
        _indent(run.dataset.description),
        f"  held-out test set: {run.n_test} rows (seeded split); search on the other {run.n_train}",
        f"  cross-validation: {type(run.cv).__name__}({run.cv.n_splits}, shuffle, seed {run.seed})",
        f"  metrics: {', '.join(run.scoring)}; the winner is picked by {run.rank_by} "
        "(higher is better for every metric)",
        "",
        leaderboard_text(run),
        "",
        "Best candidate per model",
        _table_text(best_per_model(run)),
        "",
        "Failed candidates",
    ]
    if not run.failures:
        lines.append("  none")
    for failure in run.failures:
        lines.append(
            f"  rank {failure['rank']} {failure['model']} ({_short_params(failure['params'])}) "
            f"failed on fold(s) {failure['failed_folds']}: {failure['error']}"
        )
    lines += [
        "",
        "Held-out test set",
        f"  winner {search.best_model_name_} (rank 1, {_short_params(search.best_params_)}): "
        + _scores_text(run.winner_test),
    ]
    if run.ensemble is not None:
        lines.append(f"  ensemble, {run.ensemble['description']}: " + _scores_text(run.ensemble["test"]))
    iterations = search.cv_results_.get("mean_best_iteration")
    if iterations is not None and not np.isnan(iterations[search.best_index_]):
        iteration = _best_iteration(search.best_estimator_)
        lines.append(
            f"  best iteration of the winner: {iterations[search.best_index_]:.1f} (mean over folds)"
            + (f", {iteration} in its refit" if iteration is not None else "")
        )
    lines += [
        "",
        "Final model",
        f"  {search.best_model_name_} refit on all {len(run.dataset.X)} rows, saved to "
        f"{run.final_path.name} (joblib: a dict with 'estimator' and its metadata: "
        "feature_names, params, versions, scores)",
        "",
    ]
    if run.skipped:
        lines += ["Skipped"] + [f"  {item}" for item in run.skipped] + [""]
    lines += [
        "Timings (seconds)",
    ]
    lines += [f"  {stage}: {seconds:.1f}" for stage, seconds in timings.items()]
    lines.append(
        f"  sum of all cross-validation fit times: "
        f"{float(np.sum(search.cv_results_['mean_fit_time']) * search.n_splits_):.1f}"
    )
    lines += ["", "Versions", "  " + ", ".join(f"{k} {v}" for k, v in run.versions.items())]
    return "\n".join(lines) + "\n"


def best_per_model(run):
    """Each model's best candidate (rows of :func:`leaderboard_frame`)."""
    frame = leaderboard_frame(run)
    return frame.groupby("model", sort=False).head(1)[
        ["model", "rank", f"{run.rank_by} mean", f"{run.rank_by} sem", "params"]
    ]


def _indent(text):
    return "\n".join("  " + line for line in text.splitlines())


def cv_results_frame(cv_results):
    """``cv_results_`` as a table: masked entries empty, params as JSON."""
    columns = {}
    for key, values in cv_results.items():
        if key == "params":
            columns[key] = [json.dumps(p, default=repr, sort_keys=True) for p in values]
        elif isinstance(values, np.ma.MaskedArray):
            data = values.data.astype(object)
            data[np.ma.getmaskarray(values)] = None
            columns[key] = data
        else:
            columns[key] = values
    return pd.DataFrame(columns)


# ----------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------
def _figure(**kwargs):
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def plot_scores(search, metric):
    """Box plot of every candidate's per-fold scores, in rank order.

    One box per candidate that has scores (failed folds are left out; a
    candidate with no score keeps its tick, marked "failed"), coloured by
    model. Each box patch and its median line have the ``gid``
    ``"<rank> <model>"``. Drawn for the
    tournament's run folder and by ``MultiModelSearchCV.plot_scores``.

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

    results = search.cv_results_
    ranks = results[f"rank_test_{metric}"]
    names = results.get("model", np.full(len(ranks), type(search.estimator).__name__))
    scores = _split_scores(results, metric, search.n_splits_)
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


def plot_predicted_vs_true(y_true, y_pred, title):
    """Scatter of held-out predictions against the truth, with the y = x line.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure(figsize=(6, 6), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(y_true, y_pred, s=10, alpha=0.5, label="held-out rows")
    low = float(min(np.min(y_true), np.min(y_pred)))
    high = float(max(np.max(y_true), np.max(y_pred)))
    ax.plot([low, high], [low, high], color="black", linewidth=1, label="y = x")
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.legend(loc="upper left")
    return fig


def plot_confusion_matrix(y_true, y_pred, classes, title):
    """Confusion matrix (one 2x2 panel per label for multilabel targets).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import ConfusionMatrixDisplay, multilabel_confusion_matrix

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == 2:
        matrices = multilabel_confusion_matrix(y_true, y_pred)
        panels = [(m, [0, 1], str(c)) for m, c in zip(matrices, classes)]
    else:
        from sklearn.metrics import confusion_matrix

        panels = [(confusion_matrix(y_true, y_pred, labels=classes), classes, None)]
    fig = _figure(figsize=(4.5 * len(panels), 4.5), layout="constrained")
    for i, (matrix, labels, name) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ConfusionMatrixDisplay(matrix, display_labels=labels).plot(ax=ax, colorbar=False)
        ax.set_xlabel("predicted label")
        ax.set_ylabel("true label")
        if name is not None:
            ax.set_title(name)
    fig.suptitle(title)
    return fig


def plot_roc(y_true, scores, classes, title):
    """ROC curves: one for a binary target, one per class (one-vs-rest) or label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from sklearn.metrics import auc, roc_curve
    from sklearn.preprocessing import label_binarize

    y_true = np.asarray(y_true)
    if y_true.ndim == 2:
        indicator = y_true
    else:
        indicator = label_binarize(y_true, classes=classes)
        if len(classes) == 2:
            indicator = np.column_stack([1 - indicator[:, 0], indicator[:, 0]])
    curves = [1] if len(classes) == 2 and y_true.ndim == 1 else range(len(classes))
    fig = _figure(figsize=(6, 6), layout="constrained")
    ax = fig.add_subplot()
    for k in curves:
        fpr, tpr, _ = roc_curve(indicator[:, k], scores[:, k])
        ax.plot(fpr, tpr, label=f"{classes[k]} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.legend(loc="lower right", title="positive class" if y_true.ndim == 1 else "label")
    return fig


def _save(fig, path):
    fig.savefig(path, dpi=110)


def _plot(run, path, draw, *args):
    """Draw and save one plot; a plot that cannot be drawn is skipped, never fatal.

    What was skipped and why goes into ``run.skipped`` (the summary lists it).
    """
    if not available("matplotlib"):
        run.skipped.append(f'{path.name}: matplotlib is not installed (pip install "distsearch[plot]")')
        return
    try:
        _save(draw(*args), path)
    except Exception as exc:  # noqa: BLE001 - the search's results are written all the same
        run.skipped.append(f"{path.name}: {type(exc).__name__}: {exc}")


def write_reports(run, total_seconds, reports_started):
    """Write ``cv_results.csv``, the plots and ``summary.txt`` into the run folder.

    The plots never stop the rest: one that cannot be drawn (matplotlib
    missing, an error) is listed under "Skipped" in the summary.
    """
    run_dir = run.run_dir
    cv_results_frame(run.search.cv_results_).to_csv(run_dir / CV_RESULTS, index=False)
    _plot(run, run_dir / SCORES_PLOT, plot_scores, run.search, run.rank_by)
    predictions = run.predictions
    winner = run.search.best_model_name_
    if "classes" not in predictions:
        title = f"{winner} on the held-out set: {run.rank_by} = {run.winner_test[run.rank_by]:.3f}"
        _plot(
            run, run_dir / PREDICTED_PLOT, plot_predicted_vs_true,
            predictions["y_true"], predictions["y_pred"], title,
        )
    else:
        title = f"{winner} on the held-out set ({len(predictions['y_true'])} rows)"
        _plot(
            run, run_dir / CONFUSION_PLOT, plot_confusion_matrix,
            predictions["y_true"], predictions["y_pred"], predictions["classes"], title,
        )
        if predictions["scores"] is not None:
            _plot(
                run, run_dir / ROC_PLOT, plot_roc,
                predictions["y_true"], predictions["scores"], predictions["classes"], title,
            )
    timings = dict(run.timings)
    timings["reports"] = time.perf_counter() - reports_started
    timings["total"] = total_seconds()
    (run_dir / SUMMARY).write_text(summary_text(run, timings))
