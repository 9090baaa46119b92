"""The notebook experience and the docs: HTML diagram, example notebooks, site.

The notebooks of ``examples/`` are executed and the documentation site is built
in strict mode (any warning fails), so that neither can rot.
"""

import html
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import loguniform
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils import estimator_html_repr

from browser import Browser, requires_chromium
from distsearch import MultiModelSearchCV

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
PAGES = sorted((ROOT / "docs").rglob("*.md"))


def _models():
    return [
        (
            "ridge",
            make_pipeline(StandardScaler(), Ridge()),
            {"ridge__alpha": loguniform(1e-3, 1e3)},
        ),
        (
            "knn",
            make_pipeline(StandardScaler(), KNeighborsRegressor()),
            {"kneighborsregressor__n_neighbors": [3, 5]},
        ),
        ("tree", DecisionTreeRegressor(random_state=0), [{"max_depth": [2]}, {}]),
    ]


def _labels(page):
    """The text of the diagram's labels, in document order."""
    return [
        re.sub(r"<[^>]+>", "", label)
        for label in re.findall(r'<label for="[^"]+" class="sk-toggleable__label[^>]*>'
                                r"<div><div>([^<]*)</div>", page)
    ]


def _pre_blocks(page):
    return [html.unescape(block) for block in re.findall(r"<pre>(.*?)</pre>", page, re.S)]


def test_html_repr_shows_every_model_with_its_pipeline_and_space():
    search = MultiModelSearchCV(_models(), n_iter={"ridge": 4}, cv=3, random_state=0)
    page = estimator_html_repr(search)
    labels = _labels(page)
    # The search, then each model's name followed by its pipeline's steps.
    assert labels == [
        "MultiModelSearchCV",
        "ridge", "StandardScaler", "Ridge",
        "knn", "StandardScaler", "KNeighborsRegressor",
        "tree", "DecisionTreeRegressor",
    ]
    assert page.count('class="sk-parallel-item"') == 3
    # The first block is the text repr (shown when the diagram cannot be).
    assert _pre_blocks(page)[1:] == [
        "ridge__alpha: loguniform(0.001, 1000.0)\n(n_iter=4)",
        "kneighborsregressor__n_neighbors: [3, 5]\n(whole grid)",
        "max_depth: [2]\nor\n(default parameters)\n(whole grid)",
    ]
    assert "fitted" not in re.findall(r'class="sk-toggleable__label ([a-z]*)', page)


def test_html_repr_of_fitted_search_marks_the_refit_winner():
    X, y = make_regression(n_samples=60, n_features=4, noise=1.0, random_state=0)
    search = MultiModelSearchCV(_models(), n_iter=2, cv=2, random_state=0).fit(X, y)
    assert search.best_model_name_ == "ridge"
    labels = _labels(estimator_html_repr(search))
    assert labels[1:5] == ["ridge: best_estimator_", "StandardScaler", "Ridge", "knn"]
    assert "tree" in labels

    no_refit = MultiModelSearchCV(_models(), n_iter=2, cv=2, random_state=0, refit=False)
    labels = _labels(estimator_html_repr(no_refit.fit(X, y)))
    assert [label for label in labels if label in ("ridge", "knn", "tree")] == [
        "ridge", "knn", "tree"
    ]


def test_html_repr_of_single_estimator_is_gridsearchcv_s():
    search = MultiModelSearchCV(Ridge(), {"alpha": [1.0]})
    assert _labels(estimator_html_repr(search))[1] == "estimator: Ridge"


# ----------------------------------------------------------------------
# The example notebooks, the guide's code and the site
# ----------------------------------------------------------------------
def _outputs(cell, mime):
    return [o["data"][mime] for o in cell.get("outputs", []) if mime in o.get("data", {})]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_shows_diagram_table_and_plot(path, tmp_path):
    import nbformat  # nbformat, nbclient, ipykernel, mkdocs: the test extra
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors
    html_outputs = [h for c in cells for h in _outputs(c, "text/html")]
    diagrams = [h for h in html_outputs if "sk-parallel-item" in h]
    tables = [h for h in html_outputs if "<table" in h and "dataframe" in h]
    images = [i for c in cells for i in _outputs(c, "image/png")]
    assert diagrams and tables and images


def _python_blocks(page):
    """The ```python blocks of a page (```py blocks are shown, not run)."""
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), re.M | re.S)


@pytest.mark.parametrize(
    "page", [p for p in PAGES if _python_blocks(p)], ids=lambda p: p.stem
)
def test_docs_code_runs(page, tmp_path, monkeypatch):
    """Each page's python blocks run, in order, in one namespace."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    for index, block in enumerate(_python_blocks(page)):
        exec(compile(block, f"{page.name} block {index}", "exec"), namespace)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The documentation site, built once in strict mode: (its folder, mkdocs's result)."""
    folder = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    return folder, result


def test_docs_build_in_strict_mode(site):
    tmp_path, result = site
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "api.html").read_text()
    assert "MultiModelSearchCV" in api and ":class:" not in api
    # Every public name under its public path (none under a private module).
    import distsearch
    import distsearch.models

    ids = set(re.findall(r'id="(distsearch[\w.]*)"', api))
    public = {f"distsearch.{n}" for n in distsearch.__all__} | {
        f"distsearch.models.{n}" for n in distsearch.models.__all__
    }
    assert public | {"distsearch.MultiModelSearchCV.plot_scores"} <= ids
    assert not [i for i in ids if "._" in i]
    # No page loads anything from the network (the offline plugin's shim ships with the docs).
    pages = [p.read_text() for p in tmp_path.rglob("*.html")]
    assert not [p for p in pages if re.search(r'<script src="https?://', p)]


@requires_chromium
def test_docs_search_works_from_disk(site, tmp_path):
    """The built site's search box finds pages when opened from file:// (no server, no network)."""
    folder, result = site
    assert result.returncode == 0, result.stderr[-3000:]
    browser = Browser(tmp_path / "profile")
    try:
        browser.open((folder / "index.html").as_uri() + "?q=leaderboard")
        meta = browser.poll(
            "(document.querySelector('.md-search-result__meta') || {}).textContent"
            "?.match(/\\d+ matching document/)?.[0]"
        )
    finally:
        browser.close()
    assert meta and int(meta.split()[0]) >= 3, meta


# ----------------------------------------------------------------------
# plot_scores
# ----------------------------------------------------------------------
def test_plot_scores_draws_every_candidate_s_folds_in_rank_order():
    X, y = make_regression(n_samples=60, n_features=4, noise=5.0, random_state=0)
    search = MultiModelSearchCV(
        [("ridge", Ridge(), {"alpha": [0.1, 1e3]}), ("knn", KNeighborsRegressor(), {"n_neighbors": [3, 10]})],
        cv=3, scoring={"r2": "r2", "mae": "neg_mean_absolute_error"}, refit="mae",
    ).fit(X, y)
    figure = search.plot_scores()
    ax = figure.axes[0]
    order = search.cv_results_["rank_test_mae"].argsort(kind="stable")
    expected = [f"{search.cv_results_['rank_test_mae'][i]} {search.cv_results_['model'][i]}" for i in order]
    assert [t.get_text() for t in ax.get_xticklabels()] == expected
    boxes = [p for p in ax.patches if p.get_gid()]
    assert [b.get_gid() for b in boxes] == expected
    # Each box spans its candidate's fold scores (whiskers reach min and max).
    for position, i in enumerate(order, start=1):
        folds = [search.cv_results_[f"split{k}_test_mae"][i] for k in range(3)]
        ends = [line.get_ydata()[1] for line in ax.lines
                if list(line.get_xdata()) == [position, position]]
        assert min(ends) == pytest.approx(min(folds)) and max(ends) == pytest.approx(max(folds))
    same_model = {b.get_gid().split()[1]: b.get_facecolor() for b in boxes}
    assert len(set(same_model.values())) == 2
    assert all(b.get_facecolor() == same_model[b.get_gid().split()[1]] for b in boxes)
    assert "mae" in ax.get_ylabel()

    assert "r2" in search.plot_scores("r2").axes[0].get_ylabel()
    with pytest.raises(ValueError, match=r"metric='rmse' is not a metric.*\['r2', 'mae'\]"):
        search.plot_scores("rmse")


def test_plot_scores_of_single_estimator_search_and_unfitted():
    from sklearn.exceptions import NotFittedError

    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    search = MultiModelSearchCV(Ridge(), {"alpha": [1.0, 10.0]}, cv=2)
    with pytest.raises(NotFittedError):
        search.plot_scores()
    labels = [t.get_text() for t in search.fit(X, y).plot_scores().axes[0].get_xticklabels()]
    assert labels == ["1 Ridge", "2 Ridge"]


# ----------------------------------------------------------------------
# Docstrings
# ----------------------------------------------------------------------
def _public_names():
    import distsearch
    import distsearch.engines
    import distsearch.models

    modules = (distsearch, distsearch.models, distsearch.engines)
    return [(module, name) for module in modules for name in module.__all__]


def _takes_parameters(obj):
    """Whether calling ``obj`` takes any parameter (a class: its constructor)."""
    try:
        return bool(inspect.signature(obj).parameters)
    except (TypeError, ValueError):  # an exception class: it takes a message
        return True


@pytest.mark.parametrize("module, name", _public_names(), ids=lambda x: getattr(x, "__name__", x))
def test_every_public_name_has_a_numpydoc_docstring_with_an_example(module, name):
    obj = getattr(module, name)
    doc = obj.__doc__ or ""
    sections = re.findall(r"^\s*(\w[\w ]*)\n\s*-{3,}$", doc, re.M)
    assert "Examples" in sections, (name, sections)
    # A Parameters section for whatever takes parameters (not, e.g., the
    # Engine base class or engine_names()).
    assert "Parameters" in sections or not _takes_parameters(obj), (name, sections)
    assert ">>> " in doc.split("Examples", 1)[1]
