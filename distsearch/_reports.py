"""The run folder of a tournament: report, summary, leaderboard, results table, plots.

``results/<run-id>/`` holds:

- ``report.html``: all of the below on one self-contained page (see
  :mod:`distsearch._html`);
- ``summary.txt``: the data set, the ranked leaderboard (mean and standard
  error over the folds of every metric, best iterations, fit times), the
  rounds of a halving search (candidates and resource per round, per model),
  the best candidate of each model, the model comparison (the winner against each
  other model's best, Nadeau-Bengio corrected), failed candidates with their
  errors, the held-out scores of the winner and of the ensemble, the final
  model, timings, backend, seed and library versions;
- ``cv_results.csv``: the search's ``cv_results_``, one row per candidate;
- ``scores.png``: per-fold scores of every candidate, in rank order, coloured
  by model;
- ``predicted-vs-true.png`` (regression) or ``confusion-matrix.png`` and
  ``roc-curve.png`` (classification): the winner on the held-out set;
- ``hyperparameters-<model>.png`` and ``parallel-<model>.png``: each model's
  CV score against each hyperparameter, and its parallel coordinates;
- ``model.joblib`` / ``model.json``, ``config.py``, ``options.json``,
  ``run.json``: written by the run (see :mod:`distsearch._saved` and
  :mod:`distsearch._runs`).

Every table here is made from the search's public views
(``leaderboard()``, ``compare_models()``): one implementation of each. The
console text keeps every line within ``WIDTH`` (100) columns. The plots are
drawn on :class:`matplotlib.figure.Figure` objects, without pyplot, so no GUI
backend or global state is involved; each plotting function returns its
figure.
"""

import json
import os
import re
import time

import numpy as np
import pandas as pd

from ._extras import available
from ._outcome import _best_iteration
from ._plots import _figure, plot_hyperparameters, plot_parallel_coordinates, plot_scores

SUMMARY = "summary.txt"
CV_RESULTS = "cv_results.csv"
SCORES_PLOT = "scores.png"
PREDICTED_PLOT = "predicted-vs-true.png"
CONFUSION_PLOT = "confusion-matrix.png"
ROC_PLOT = "roc-curve.png"


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

    Made from the search's public :meth:`~distsearch.MultiModelSearchCV.leaderboard`
    (one implementation), renamed for the run folder.

    Returns
    -------
    pandas.DataFrame
        Indexed by the candidate's row in ``cv_results_``. Columns ``rank``,
        ``model``, ``<metric> mean`` and ``<metric> sem`` for each metric
        (the ranking one first), ``best iter`` when the models report one,
        ``fit s`` (mean fit time per fold) and ``params``.
    """
    board = run.search.leaderboard()
    metrics = [c[len("mean_test_") :] for c in board.columns if c.startswith("mean_test_")]
    table = {"rank": board["rank"], "model": board["model"]}
    for metric in metrics:
        table[f"{metric} mean"] = board[f"mean_test_{metric}"]
        table[f"{metric} sem"] = board[f"sem_test_{metric}"]
    if "mean_best_iteration" in board:
        table["best iter"] = board["mean_best_iteration"]
    table["fit s"] = board["mean_fit_time"]
    table["params"] = [_short_params(p) for p in board["params"]]
    frame = pd.DataFrame(table)
    # leaderboard() sorts the candidates by rank, stably: the same order.
    ranks = run.search.cv_results_[f"rank_test_{run.rank_by}"]
    frame.index = pd.Index(np.argsort(ranks, kind="stable"), name="candidate")
    return frame


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


WIDTH = 100  # the console's lines fit in this many columns
CONSOLE_ROWS = 10  # leaderboard rows on the console (summary.txt has them all)


def fit_width(line, width=WIDTH):
    """``line`` cut to ``width`` characters, ending in "..." when cut."""
    return line if len(line) <= width else line[: width - 3] + "..."


def comparison_frame(run):
    """The winner against each other model's best (``compare_models``)."""
    return run.search.compare_models(run.rank_by)


def comparison_lines(run):
    """The model comparison, one line per other model."""
    table = comparison_frame(run)
    lines = [
        f"Model comparison: the winner ({run.search.best_model_name_}) minus the best of each "
        f"other model, {run.rank_by}",
        "  (mean over shared folds; standard error corrected for overlapping training sets)",
    ]
    if table.empty:
        lines.append("  no other model")
    for row in table.itertuples(index=False):
        lines.append(
            f"  {row.model} (rank {row.rank}): {row.mean_difference:+.4f} +/- {row.std_error:.4f} "
            f"over {row.n_folds} folds, P(winner better) = {row.probability_winner_better:.3f}"
        )
    return lines


def winner_lines(run, report_path):
    """The console's last lines: the winner, its CV and held-out score, the report."""
    search, metric = run.search, run.rank_by
    frame = leaderboard_frame(run)
    best = frame.iloc[0]
    return [
        fit_width(
            f"Winner: {search.best_model_name_} ({_short_params(search.best_params_)})"
        ),
        f"  CV {metric}: {best[f'{metric} mean']:.4f} +/- {best[f'{metric} sem']:.4f} "
        f"(mean and standard error over {search.n_splits_} folds)",
        f"  held-out {metric}: {run.winner_test[metric]:.4f} ({run.n_test} rows)",
        f"Report: {report_path}",
    ]


def console_text(run, report_path):
    """What the tournament prints at the end, every line within ``WIDTH`` columns.

    The best ``CONSOLE_ROWS`` candidates (ranking metric only), the model
    comparison, then the winner with its CV and held-out score and the path
    of the report, last (relative to the working folder when below it; a
    path is never cut).
    """
    frame = leaderboard_frame(run)
    metric = run.rank_by
    shown = frame[["rank", "model", f"{metric} mean", f"{metric} sem", "fit s", "params"]]
    head = f"Leaderboard: {len(frame)} candidates ranked by {metric} (mean and standard error"
    head += f" over {run.search.n_splits_} folds)"
    if len(frame) > CONSOLE_ROWS:
        head += f", the best {CONSOLE_ROWS}"
        shown = shown.head(CONSOLE_ROWS)
    lines = [head] + _table_text(shown).splitlines() + [""]
    lines += comparison_lines(run) + [""] + winner_lines(run, _shown_path(report_path))
    # Every line within WIDTH, but the report's path: it is never cut.
    return "\n".join(line if line.startswith("Report: ") else fit_width(line) for line in lines)


def _shown_path(path):
    """``path`` relative to the working folder when it is below it (shorter), else as given."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


def _scores_text(scores):
    return ", ".join(f"{metric} = {value:.4f}" for metric, value in scores.items())


def halving_rounds(search):
    """The rounds of a halving search, one line each: candidates and resource per model.

    Empty for any other search.
    """
    per_model = getattr(search, "n_candidates_per_model_", None)
    if not per_model:
        return []
    results = search.cv_results_
    iterations = np.asarray(results["iter"])
    models = np.asarray(results["model"])
    resources = np.asarray(results["n_resources"])
    lines = []
    for itr, n in enumerate(search.n_candidates_):
        parts = []
        for name, counts in per_model.items():
            if counts[itr]:
                resource = int(resources[(iterations == itr) & (models == name)][0])
                param = search.resources_.get(name)
                unit = "rows" if param is None else param.split("__")[-1]
                parts.append(f"{name} {counts[itr]} ({resource} {unit})")
        lines.append(f"halving round {itr}: {n} candidates: " + ", ".join(parts))
    return lines


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
        f"  cross-validation: {type(run.cv).__name__}({run.cv.get_n_splits()}, shuffle, seed {run.seed})",
        f"  metrics: {', '.join(run.scoring)}; the winner is picked by {run.rank_by} "
        "(higher is better for every metric)",
        "",
        leaderboard_text(run),
        "",
    ]
    rounds = halving_rounds(search)
    if rounds:
        lines += [
            "Successive halving rounds (candidates per model and each one's resource per fit)"
        ]
        lines += [f"  {line.removeprefix('halving ')}" for line in rounds] + [""]
    lines += [
        "Best candidate per model",
        _table_text(best_per_model(run)),
        "",
        *comparison_lines(run),
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

    What was skipped and why goes into ``run.skipped`` (the summary lists
    it). Returns whether the file was written.
    """
    if not available("matplotlib"):
        run.skipped.append(f'{path.name}: matplotlib is not installed (pip install "distsearch[plot]")')
        return False
    try:
        _save(draw(*args), path)
    except Exception as exc:  # noqa: BLE001 - the search's results are written all the same
        run.skipped.append(f"{path.name}: {type(exc).__name__}: {exc}")
        return False
    return True


def _file_name(model):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(model))


def plotted_models(run):
    """The models that get hyperparameter plots: a searched parameter and a scored candidate."""
    from ._plots import _axes_of, _model_rows

    search = run.search
    return [
        model
        for model in dict.fromkeys(search.cv_results_["model"])
        if _axes_of(search, model) and len(_model_rows(search, model, run.rank_by)[0])
    ]


def write_reports(run, total_seconds, reports_started):
    """Write ``cv_results.csv``, the plots, ``summary.txt`` and ``report.html``.

    The plots never stop the rest: one that cannot be drawn (matplotlib
    missing, an error) is listed under "Skipped" in the summary (and left
    out of the report).

    Returns
    -------
    dict
        The timings of the run, ``reports`` and ``total`` included.
    """
    from ._html import REPORT, html_report

    run_dir = run.run_dir
    cv_results_frame(run.search.cv_results_).to_csv(run_dir / CV_RESULTS, index=False)
    figures = []

    def save(name, caption, draw, *args):
        if _plot(run, run_dir / name, draw, *args):
            figures.append((caption, run_dir / name))

    save(SCORES_PLOT, f"Per-fold {run.rank_by} of every candidate, best first ({SCORES_PLOT})",
         plot_scores, run.search, run.rank_by)
    predictions = run.predictions
    winner = run.search.best_model_name_
    if "classes" not in predictions:
        title = f"{winner} on the held-out set: {run.rank_by} = {run.winner_test[run.rank_by]:.3f}"
        save(PREDICTED_PLOT, f"The winner's held-out predictions against the truth ({PREDICTED_PLOT})",
             plot_predicted_vs_true, predictions["y_true"], predictions["y_pred"], title)
    else:
        title = f"{winner} on the held-out set ({len(predictions['y_true'])} rows)"
        save(CONFUSION_PLOT, f"The winner's held-out confusion matrix ({CONFUSION_PLOT})",
             plot_confusion_matrix, predictions["y_true"], predictions["y_pred"], predictions["classes"], title)
        if predictions["scores"] is not None:
            save(ROC_PLOT, f"The winner's held-out ROC curves ({ROC_PLOT})",
                 plot_roc, predictions["y_true"], predictions["scores"], predictions["classes"], title)
    for model in plotted_models(run):
        name = _file_name(model)
        save(f"hyperparameters-{name}.png",
             f"{model}: mean CV score against each hyperparameter (hyperparameters-{name}.png)",
             plot_hyperparameters, run.search, model, run.rank_by)
        save(f"parallel-{name}.png",
             f"{model}: its candidates across their hyperparameters, parallel coordinates (parallel-{name}.png)",
             plot_parallel_coordinates, run.search, model, run.rank_by)
    timings = dict(run.timings)
    timings["reports"] = time.perf_counter() - reports_started
    timings["total"] = total_seconds()
    (run_dir / SUMMARY).write_text(summary_text(run, timings))
    (run_dir / REPORT).write_text(
        html_report(run, timings, figures, comparison_frame(run)), encoding="utf-8"
    )
    return timings
