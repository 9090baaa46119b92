"""The run folder's plots and tables: what they show, checked on the figures."""

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch
from sklearn.metrics import confusion_matrix, roc_auc_score
from sklearn.model_selection import train_test_split

from distsearch._reports import (
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
