"""The run folder's plots and tables: what they show, checked on the figures."""

import base64
import html
import io
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import Browser, requires_chromium
from matplotlib.image import imread
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch
from sklearn.metrics import confusion_matrix, roc_auc_score
from sklearn.model_selection import train_test_split

from distsearch._reports import (
    _short_params,
    console_text,
    cv_results_frame,
    leaderboard_frame,
    plot_confusion_matrix,
    plot_predicted_vs_true,
    plot_roc,
    plot_scores,
)
from distsearch._tournament import run_tournament


def tournament(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("run")
    config = folder / "config.py"
    config.write_text(textwrap.dedent(text))
    return run_tournament(config, n_jobs=1, output=folder / "out", progress=False, log=lambda s: None)


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory):
    """Three models, one candidate that fails on every fold."""
    return tournament(
        tmp_path_factory,
        """
        from sklearn.linear_model import Lasso, Ridge
        from sklearn.tree import DecisionTreeRegressor

        data = {"kind": "mock_regression", "n_samples": 100, "n_features": 5, "n_categorical_features": 2}
        contenders = [
            ("ridge", Ridge(), {"alpha": [0.1, 10.0, -1.0]}),
            ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [1, 3, 6]}),
            ("lasso", Lasso(), {"alpha": [1.0, 30.0]}),
        ]
        n_splits = 4
        """,
    )


@pytest.fixture(scope="module")
def classification_run(tmp_path_factory):
    return tournament(
        tmp_path_factory,
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.tree import DecisionTreeClassifier

        data = {"kind": "mock_classification", "n_samples": 300, "n_classes": 3, "n_informative": 4}
        contenders = [
            ("logistic", LogisticRegression(), {"C": [0.01, 1.0]}),
            ("tree", DecisionTreeClassifier(random_state=0), {"max_depth": [3]}),
        ]
        n_splits = 3
        scoring = ["accuracy", "roc_auc_ovr"]
        """,
    )


def held_out(run):
    stratify = run.dataset.y if run.dataset.task == "classification" else None
    return train_test_split(
        run.dataset.X, run.dataset.y, test_size=run.n_test, random_state=run.seed, stratify=stratify
    )[1::2]


def test_scores_plot_has_one_box_per_candidate_in_rank_order(regression_run):
    run = regression_run
    fig = plot_scores(run.search, run.rank_by)
    (ax,) = fig.axes
    results = run.search.cv_results_
    order = np.argsort(results["rank_test_r2"], kind="stable")
    labels = [f"{results['rank_test_r2'][i]} {results['model'][i]}" for i in order]

    # Every candidate has a tick, best first; the failed one is marked and has no box.
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == 8
    assert ticks == labels[:-1] + [labels[-1] + " (failed)"]
    assert ticks[-1] == "8 ridge (failed)"
    boxes = [p for p in ax.patches if isinstance(p, PathPatch) and p.get_gid()]
    assert [b.get_gid() for b in boxes] == labels[:-1]

    # Each box shows that candidate's fold scores: its median line is theirs.
    medians = {line.get_gid(): line.get_ydata()[0] for line in ax.lines if isinstance(line, Line2D) and line.get_gid()}
    for i, label in zip(order[:-1], labels[:-1]):
        splits = [results[f"split{k}_test_r2"][i] for k in range(4)]
        assert medians[label] == pytest.approx(np.median(splits))
    # Box positions follow the ticks, left to right.
    centres = [np.mean(b.get_path().vertices[:, 0]) for b in boxes]
    assert centres == sorted(centres)

    # Coloured by model: one colour per model, as the legend says.
    colour = {}
    for box in boxes:
        colour.setdefault(box.get_gid().split()[1], set()).add(box.get_facecolor())
    assert all(len(c) == 1 for c in colour.values())
    assert len({next(iter(c)) for c in colour.values()}) == 3
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["ridge", "tree", "lasso"]
    for text, handle in zip(legend.get_texts(), legend.legend_handles):
        assert handle.get_facecolor() in colour[text.get_text()]

    assert ax.get_ylabel() == "r2, per fold"
    assert ax.get_xlabel() == "candidate (rank and model), best first"
    assert ax.get_title() == "Cross-validated r2 of 8 candidates over 4 folds"


def test_predicted_vs_true_plots_every_held_out_row(regression_run):
    run = regression_run
    X_test, y_test = held_out(run)
    y_pred = run.search.best_estimator_.predict(X_test)
    fig = plot_predicted_vs_true(y_test, y_pred, "title")
    (ax,) = fig.axes
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([y_test, y_pred]))
    (diagonal,) = ax.lines
    np.testing.assert_array_equal(diagonal.get_xdata(), diagonal.get_ydata())
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("true value", "predicted value")
    # The run wrote the same data.
    np.testing.assert_allclose(run.predictions["y_pred"], y_pred)


def test_confusion_matrix_plot(classification_run):
    run = classification_run
    X_test, y_test = held_out(run)
    y_pred = run.search.best_estimator_.predict(X_test)
    fig = plot_confusion_matrix(y_test, y_pred, [0, 1, 2], "title")
    (ax,) = fig.axes
    (image,) = ax.images
    np.testing.assert_array_equal(image.get_array(), confusion_matrix(y_test, y_pred))
    assert image.get_array().sum() == run.n_test == 60
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted label", "true label")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "2"]


def test_multilabel_confusion_matrix_has_a_panel_per_label():
    y_true = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    y_pred = np.array([[1, 0], [1, 1], [1, 0], [0, 0]])
    fig = plot_confusion_matrix(y_true, y_pred, ["a", "b"], "title")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), [[2, 0], [1, 1]])


def test_roc_curves_one_per_class_with_their_auc(classification_run):
    run = classification_run
    X_test, y_test = held_out(run)
    scores = run.search.best_estimator_.predict_proba(X_test)
    fig = plot_roc(y_test, scores, [0, 1, 2], "title")
    (ax,) = fig.axes
    assert len(ax.lines) == 4  # three classes and the chance line
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    for k in range(3):
        auc = roc_auc_score(np.asarray(y_test) == k, scores[:, k])
        assert texts[k] == f"{k} (AUC {auc:.3f})"
    assert texts[3] == "chance"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("false positive rate", "true positive rate")


def test_binary_roc_draws_the_positive_class_only():
    y = np.array(["no", "yes", "no", "yes", "yes"])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.1, 0.9]])
    fig = plot_roc(y, scores, ["no", "yes"], "title")
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    expected = roc_auc_score(y == "yes", scores[:, 1])
    assert ax.get_legend().get_texts()[0].get_text() == f"yes (AUC {expected:.3f})"


def test_cv_results_table_keeps_every_column(regression_run):
    results = regression_run.search.cv_results_
    frame = cv_results_frame(results)
    assert list(frame.columns) == list(results)
    assert [json.loads(p) for p in frame["params"]] == results["params"]
    # A parameter of another model is empty, not a made-up value.
    ridge = frame["model"] == "ridge"
    assert frame.loc[ridge, "param_model__max_depth"].isna().all()
    assert frame.loc[~ridge, "param_model__alpha"].notna().sum() == 2


def test_leaderboard_frame_sem_and_order(regression_run):
    run = regression_run
    frame = leaderboard_frame(run)
    assert list(frame["rank"]) == list(range(1, 9))
    results = run.search.cv_results_
    for candidate, row in frame.iterrows():
        splits = pd.Series([results[f"split{k}_test_r2"][candidate] for k in range(4)])
        assert row["r2 sem"] == pytest.approx(splits.std(ddof=1) / 2, nan_ok=True)
    assert frame.iloc[-1]["params"] == "alpha=-1"


# ----------------------------------------------------------------------
# The console, the comparison in summary.txt, report.html in a browser
# ----------------------------------------------------------------------
def test_console_fits_100_columns_and_ends_with_winner_scores_and_report(regression_run):
    run = regression_run
    text = console_text(run, run.run_dir / "report.html")
    lines = text.splitlines()
    assert max(len(line) for line in lines[:-1]) <= 100
    search = run.search
    best = search.best_index_
    splits = pd.Series([search.cv_results_[f"split{k}_test_r2"][best] for k in range(4)])
    assert lines[-4] == f"Winner: {search.best_model_name_} ({_short_params(search.best_params_)})"
    assert lines[-3] == (
        f"  CV r2: {splits.mean():.4f} +/- {splits.std(ddof=1) / 2:.4f} (mean and standard error over 4 folds)"
    )
    assert lines[-2] == f"  held-out r2: {run.winner_test['r2']:.4f} (40 rows)"
    assert lines[-1].startswith("Report: ")  # the whole path, never cut
    assert Path(lines[-1].removeprefix("Report: ")).resolve() == (run.run_dir / "report.html").resolve()
    # The leaderboard: the 8 candidates (fewer than 10), the ranking metric's mean and sem.
    assert lines[0] == "Leaderboard: 8 candidates ranked by r2 (mean and standard error over 4 folds)"
    assert lines[1].split() == ["rank", "model", "r2", "mean", "r2", "sem", "fit", "s", "params"]
    assert [line.split()[1] for line in lines[2:10]] == list(leaderboard_frame(run)["model"])


def test_summary_and_report_give_the_model_comparison(regression_run):
    run = regression_run
    table = run.search.compare_models("r2")
    summary = (run.run_dir / "summary.txt").read_text()
    lines = summary.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("Model comparison:")))
    assert lines[start] == f"Model comparison: the winner ({run.search.best_model_name_}) minus the best of each other model, r2"
    for row, line in zip(table.itertuples(index=False), lines[start + 2 :]):
        assert line == (
            f"  {row.model} (rank {row.rank}): {row.mean_difference:+.4f} +/- {row.std_error:.4f} "
            f"over {row.n_folds} folds, P(winner better) = {row.probability_winner_better:.3f}"
        )
    assert len(table) == 2


REPORT_SECTIONS = ["winner", "settings", "leaderboard", "comparison", "held-out", "plots", "failures", "timings", "versions"]


def test_report_is_self_contained(regression_run):
    page = (regression_run.run_dir / "report.html").read_text()
    # No network: nothing loaded from elsewhere, every image inlined.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    images = re.findall(r'<img src="([^"]*)"', page)
    pngs = sorted(p.name for p in regression_run.run_dir.glob("*.png"))
    assert len(images) == len(pngs) == 8  # scores, predicted-vs-true, 3 x (hyperparameters, parallel)
    for src, name in zip(images, [f for f in _figure_order(regression_run)]):
        assert src == "data:image/png;base64," + base64.b64encode((regression_run.run_dir / name).read_bytes()).decode()
    # Values are escaped: the failure's error text is in the page, as text.
    assert html.escape(regression_run.failures[0]["error"]) in page


def _figure_order(run):
    models = list(dict.fromkeys(run.search.cv_results_["model"]))
    return ["scores.png", "predicted-vs-true.png"] + [
        f"{kind}-{m}.png" for m in models for kind in ("hyperparameters", "parallel")
    ]


@requires_chromium
def test_report_in_a_real_browser(regression_run, tmp_path):
    run = regression_run
    browser = Browser(tmp_path / "profile")
    try:
        browser.open((run.run_dir / "report.html").as_uri())
        # Every section, in order.
        assert browser.evaluate("Array.from(document.querySelectorAll('body > section')).map(s => s.id)") == REPORT_SECTIONS
        # The leaderboard: a row per candidate, as the search ranks them, every metric, the parameters.
        header = browser.evaluate("Array.from(document.querySelectorAll('#leaderboard-table th')).map(t => t.textContent)")
        assert header == [
            "rank", "model", "r2 mean", "r2 sem", "neg_root_mean_squared_error mean",
            "neg_root_mean_squared_error sem", "fit s", "alpha", "max_depth",
        ]
        rows = browser.evaluate(
            "Array.from(document.querySelectorAll('#leaderboard-table tbody tr'))"
            ".map(r => Array.from(r.cells).map(c => c.textContent))"
        )
        board = run.search.leaderboard()
        assert [r[0] for r in rows] == [str(r) for r in board["rank"]]
        assert [r[1] for r in rows] == board["model"].tolist()
        assert [r[2] for r in rows] == [f"{v:.4f}" if np.isfinite(v) else "nan" for v in board["mean_test_r2"]]
        assert [r[3] for r in rows] == [f"{v:.4f}" if np.isfinite(v) else "nan" for v in board["sem_test_r2"]]
        assert rows[0][1] == run.search.best_model_name_
        # Sorting: a click on "r2 mean" sorts ascending (failed candidates last), a second descending.
        column = "Array.from(document.querySelectorAll('#leaderboard-table tbody tr')).map(r => r.cells[2].getAttribute('data-value'))"
        browser.evaluate("document.querySelectorAll('#leaderboard-table th')[2].click()")
        ascending = browser.evaluate(column)
        finite = sorted(v for v in board["mean_test_r2"] if np.isfinite(v))
        assert [float(v) for v in ascending if v] == finite and ascending[-1] == ""
        browser.evaluate("document.querySelectorAll('#leaderboard-table th')[2].click()")
        assert [float(v) for v in browser.evaluate(column) if v] == finite[::-1]
        assert browser.evaluate("document.querySelectorAll('#leaderboard-table th')[2].getAttribute('aria-sort')") == "descending"
        # The comparison table and the failure, as the search says.
        comparison = browser.evaluate(
            "Array.from(document.querySelectorAll('#comparison-table tbody tr')).map(r => r.cells[0].textContent)"
        )
        assert comparison == run.search.compare_models("r2")["model"].tolist()
        assert browser.evaluate("document.querySelectorAll('#failures-table tbody tr').length") == 1
        # Every figure decoded and drawn at the size of its PNG.
        images = browser.evaluate(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width])"
        )
        expected = [imread(run.run_dir / name).shape[:2] for name in _figure_order(run)]
        assert [(w, h) for _, w, h, _ in images] == [(shape[1], shape[0]) for shape in expected]
        assert all(complete and shown > 0 for complete, _, _, shown in images)
        # Nothing was fetched: the page and its data: images only.
        assert browser.evaluate("performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'))") == []
        assert browser.problems() == []
        # The screenshot shows something (not a blank page).
        shot = imread(io.BytesIO(browser.screenshot()), format="png")
        assert shot.shape[:2] == (900, 1280) and shot[..., :3].std() > 0.05
    finally:
        browser.close()


def test_repeated_cross_validation_compares_over_every_repeat(tmp_path_factory):
    run = tournament(
        tmp_path_factory,
        """
        from sklearn.linear_model import Ridge
        from sklearn.tree import DecisionTreeRegressor

        data = {"kind": "mock_regression", "n_samples": 60, "n_features": 3}
        contenders = [("ridge", Ridge(), {"alpha": [1.0]}), ("tree", DecisionTreeRegressor(random_state=0), {"max_depth": [2]})]
        n_splits = 3
        n_repeats = 2
        """,
    )
    assert type(run.cv).__name__ == "RepeatedKFold" and run.search.n_splits_ == 6
    (row,) = run.search.compare_models("r2").itertuples(index=False)
    results = run.search.cv_results_
    winner, other = run.search.best_index_, 1 - run.search.best_index_
    d = np.array([results[f"split{k}_test_r2"][winner] - results[f"split{k}_test_r2"][other] for k in range(6)])
    assert row.n_folds == 6
    # Corrected for 3-fold training sets: n_test / n_train = 1/2.
    assert row.std_error == pytest.approx(np.sqrt(np.var(d, ddof=1) * (1 / 6 + 1 / 2)))
    summary = (run.run_dir / "summary.txt").read_text()
    assert "cross-validation: RepeatedKFold(6, shuffle, seed 0)" in summary
    assert f"over 6 folds, P(winner better) = {row.probability_winner_better:.3f}" in summary
