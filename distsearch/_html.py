"""``report.html``: the run folder's report, one self-contained page.

Invariants:

- one file that opens from disk with no network: no external script,
  stylesheet, font or image; every figure is the run folder's PNG inlined as
  a base64 ``data:`` URL; the only script is the small inline one that sorts
  the tables;
- every value from the run (names, parameters, errors) is HTML-escaped;
- it shows what ``summary.txt`` shows (settings, leaderboard, model
  comparison, held-out scores, failures, timings, versions) plus the figures,
  and the rounds of an adaptive search when ``cv_results_`` has them.

Sections, in order (each a ``<section>`` with this id): ``winner``,
``settings``, ``leaderboard``, ``comparison``, ``rounds`` (successive
halving only), ``trials`` (Optuna search only), ``held-out``, ``plots``,
``failures``, ``timings``, ``versions``.
"""

import base64
import html
import json

import numpy as np
import pandas as pd

from ._reports import leaderboard_frame

REPORT = "report.html"

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 0 1.5em 3em; color: #1d1d1f; }
h1 { font-size: 1.6em; margin: 1em 0 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
nav a { margin-right: 1em; }
.winner { background: #eef6ee; border: 1px solid #b7d8b7; border-radius: 6px; padding: 0.6em 1em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f6; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; }
.scroll { overflow-x: auto; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f9; padding: 0.6em; overflow-x: auto; }
.muted { color: #666; }
"""

# Sorts a table.sortable by the clicked column: numbers (data-value) as
# numbers, the rest as text; a click on the sorted column reverses it.
_SCRIPT = """
(function () {
  function key(cell) {
    var v = cell.getAttribute("data-value");
    if (v !== null && v !== "" && !isNaN(Number(v))) { return {n: Number(v)}; }
    return {t: cell.textContent};
  }
  function compare(a, b) {
    if ("n" in a && "n" in b) { return a.n - b.n; }
    if ("n" in a) { return -1; }
    if ("n" in b) { return 1; }
    return a.t.localeCompare(b.t);
  }
  function sortTable(table, column, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var c = compare(key(r.cells[column]), key(s.cells[column]));
      return descending ? -c : c;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (i === column) { th.setAttribute("aria-sort", descending ? "descending" : "ascending"); }
      else { th.removeAttribute("aria-sort"); }
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener("click", function () {
        sortTable(table, i, th.getAttribute("aria-sort") === "ascending");
      });
    });
  });
})();
"""


def _e(value):
    return html.escape(str(value), quote=True)


def _format(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if hasattr(value, "get_params"):
        return type(value).__name__
    return str(value)


def _cell(value, digits=None):
    """A ``<td>``: numbers right-aligned with their exact value in data-value."""
    if isinstance(value, (bool, np.bool_)):
        return f"<td>{_e(value)}</td>"
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        if np.isnan(number):
            return '<td class="num" data-value="">nan</td>'
        text = f"{number:.{digits}f}" if digits is not None else _format(value)
        return f'<td class="num" data-value="{number!r}">{_e(text)}</td>'
    return f"<td>{_e(_format(value))}</td>"


def _table(frame, table_id=None, sortable=False, digits=None):
    """``frame`` as an HTML table (``digits``: column -> decimals)."""
    digits = digits or {}
    attrs = (f' id="{_e(table_id)}"' if table_id else "") + (' class="sortable"' if sortable else "")
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in frame.columns)
    rows = [
        "<tr>" + "".join(_cell(v, digits.get(c)) for c, v in zip(frame.columns, row)) + "</tr>"
        for row in frame.itertuples(index=False)
    ]
    return (
        f'<div class="scroll"><table{attrs}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _definition_table(items):
    rows = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in items)
    return f"<table>{rows}</table>"


def _image(path, caption):
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _leaderboard_table(run):
    """Every candidate: the summary's leaderboard columns, then one column per parameter.

    The columns are :func:`~distsearch._reports.leaderboard_frame`'s (rank,
    model, mean and sem of every metric, best iter, fit s), in its order (the
    search's leaderboard order), the ``params`` text split into its values.
    """
    frame = leaderboard_frame(run).drop(columns="params")
    table = {column: frame[column].to_numpy() for column in frame.columns}
    digits = {column: 4 for column in frame.columns if column.endswith((" mean", " sem"))}
    digits.update({"best iter": 1, "fit s": 2})
    board = run.search.leaderboard()
    for column in board.columns:
        if column.startswith("param_"):
            # Empty where the candidate's model has no such parameter.
            table[column[len("param_") :].removeprefix("model__")] = [
                "" if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in board[column]
            ]
    return _table(pd.DataFrame(table), "leaderboard-table", sortable=True, digits=digits)


def _comparison_table(run, comparison):
    frame = pd.DataFrame(
        {
            "model": comparison["model"],
            "rank": comparison["rank"],
            f"{run.rank_by} mean": comparison[f"mean_test_{run.rank_by}"],
            "winner minus it": comparison["mean_difference"],
            "corrected std error": comparison["std_error"],
            "P(winner better)": comparison["probability_winner_better"],
            "shared folds": comparison["n_folds"],
            "params": [_params_text(p) for p in comparison["params"]],
        }
    )
    digits = {c: 4 for c in frame.columns[2:5]}
    digits["P(winner better)"] = 3
    return _table(frame, "comparison-table", sortable=True, digits=digits)


def _params_text(params):
    return ", ".join(f"{k.removeprefix('model__')}={_format(v)}" for k, v in sorted(params.items()))


def _rounds(results, metric):
    """The rounds of an adaptive search (``iter`` in ``cv_results_``), or None."""
    if "iter" not in results:
        return None
    frame = pd.DataFrame(
        {"round": results["iter"], "mean": results[f"mean_test_{metric}"]}
        | ({"resources": results["n_resources"]} if "n_resources" in results else {})
    )
    grouped = frame.groupby("round", sort=True)
    table = pd.DataFrame({"candidates": grouped.size(), f"best {metric}": grouped["mean"].max()})
    if "resources" in frame:
        table.insert(1, "resources per fit", grouped["resources"].first())
    return table.reset_index()


def _trials(results, metric, n_splits):
    """The trials of an Optuna search (``trial_number`` in ``cv_results_``), or None.

    One row per trial in the order they were asked: its model, mean score,
    the folds it was scored on (fewer than ``n_splits``: pruned) and the best
    mean score so far.
    """
    if "trial_number" not in results:
        return None
    means = np.asarray(results[f"mean_test_{metric}"], dtype=float)
    folds = np.column_stack(
        [np.asarray(results[f"split{k}_test_{metric}"], dtype=float) for k in range(n_splits)]
    )
    scored = np.sum(~np.isnan(folds), axis=1)
    order = np.argsort(np.asarray(results["trial_number"]), kind="stable")
    best = np.fmax.accumulate(np.where(np.isnan(means[order]), -np.inf, means[order]))
    frame = pd.DataFrame(
        {
            "trial": np.asarray(results["trial_number"])[order],
            "model": np.asarray(results.get("model", np.full(len(means), "")))[order],
            f"mean {metric}": means[order],
            "folds scored": scored[order],
            "pruned": np.where(scored[order] < n_splits, "yes", "no"),
            "best so far": np.where(np.isinf(best), np.nan, best),
        }
    )
    return frame


def html_report(run, timings, figures, comparison):
    """The text of ``report.html``.

    Parameters
    ----------
    run : _Run
        The finished run.
    timings : dict
        Stage -> seconds.
    figures : list of (title, path)
        The PNG files of the run folder to inline, in order.
    comparison : pandas.DataFrame
        ``run.search.compare_models(run.rank_by)``.
    """
    search = run.search
    metric = run.rank_by
    best = search.best_index_
    results = search.cv_results_
    cv_mean = results[f"mean_test_{metric}"][best]
    board = search.leaderboard()
    cv_sem = board.loc[0, f"sem_test_{metric}"]
    title = f"distsearch tournament {run.run_id}"
    sections = []

    sections.append(
        '<section id="winner"><div class="winner">'
        f"<strong>Winner: {_e(search.best_model_name_)}</strong> ({_e(_params_text(search.best_params_))})<br>"
        f"CV {_e(metric)}: {cv_mean:.4f} &plusmn; {cv_sem:.4f} (mean and standard error over "
        f"{search.n_splits_} folds); held-out {_e(metric)}: {run.winner_test[metric]:.4f} "
        f"({run.n_test} rows)</div></section>"
    )
    settings = [
        ("config", run.source),
        ("options", json.dumps(getattr(run, "options", {}) or {}, sort_keys=True, default=str)),
        ("seed", run.seed),
        ("backend", f"{run.backend}, n_jobs={run.n_jobs}"),
        ("size", "--quick (smoke-test size)" if run.quick else "full"),
        ("cross-validation", f"{type(run.cv).__name__}, {search.n_splits_} folds, shuffled with seed {run.seed}"),
        ("metrics", f"{', '.join(run.scoring)}; the winner is picked by {metric} (higher is better)"),
        ("held-out test set", f"{run.n_test} rows (seeded split); the search ran on the other {run.n_train}"),
    ]
    sections.append(
        '<section id="settings"><h2>Settings</h2>'
        + _definition_table(settings)
        + f"<h3>Data set</h3><pre>{_e(run.dataset.description)}</pre></section>"
    )
    sections.append(
        '<section id="leaderboard"><h2>Leaderboard</h2>'
        f'<p class="muted">{len(board)} candidates ranked by {_e(metric)}: mean and standard error '
        f"over {search.n_splits_} folds of every metric. Click a column header to sort.</p>"
        + _leaderboard_table(run)
        + "</section>"
    )
    sections.append(
        '<section id="comparison"><h2>Model comparison</h2>'
        f'<p class="muted">The winner ({_e(search.best_model_name_)}) against the best candidate of '
        f"each other model: the mean difference of {_e(metric)} over the folds both have a score for, "
        "its standard error corrected for the overlap of the folds' training sets (Nadeau and "
        "Bengio's corrected resampled t-test) and the probability that the winner is better "
        "(Student t posterior).</p>"
        + (_comparison_table(run, comparison) if len(comparison) else "<p>No other model.</p>")
        + "</section>"
    )
    rounds = _rounds(results, metric)
    if rounds is not None:
        sections.append(
            '<section id="rounds"><h2>Rounds</h2>'
            + _table(rounds, "rounds-table", digits={f"best {metric}": 4})
            + "</section>"
        )
    trials = _trials(results, metric, search.n_splits_)
    if trials is not None:
        sections.append(
            '<section id="trials"><h2>Trials</h2>'
            f'<p class="muted">{len(trials)} trials of the Optuna search, in the order they were '
            f"asked; {int((trials['pruned'] == 'yes').sum())} pruned.</p>"
            + _table(trials, "trials-table", sortable=True,
                     digits={f"mean {metric}": 4, "best so far": 4})
            + "</section>"
        )
    held = [("winner " + search.best_model_name_, run.winner_test)]
    if run.ensemble is not None:
        held.append(("ensemble, " + run.ensemble["description"], run.ensemble["test"]))
    held_frame = pd.DataFrame([{"model": name} | scores for name, scores in held])
    sections.append(
        '<section id="held-out"><h2>Held-out test set</h2>'
        + _table(held_frame, "held-out-table", digits={m: 4 for m in run.scoring})
        + "</section>"
    )
    skipped = getattr(run, "skipped", [])
    sections.append(
        '<section id="plots"><h2>Plots</h2>'
        + "".join(_image(path, caption) for caption, path in figures)
        + ("<p>Not drawn:</p><ul>" + "".join(f"<li>{_e(item)}</li>" for item in skipped) + "</ul>" if skipped else "")
        + "</section>"
    )
    if run.failures:
        failures = pd.DataFrame(
            [
                {
                    "rank": f["rank"],
                    "model": f["model"],
                    "params": _params_text(f["params"]),
                    "failed folds": ", ".join(map(str, f["failed_folds"])),
                    "error": f["error"],
                }
                for f in run.failures
            ]
        )
        failed = _table(failures, "failures-table")
    else:
        failed = "<p>None: every candidate was scored on every fold.</p>"
    sections.append(f'<section id="failures"><h2>Failures</h2>{failed}</section>')
    sections.append(
        '<section id="timings"><h2>Timings</h2>'
        + _definition_table([(k, f"{v:.1f} s") for k, v in timings.items()])
        + "</section>"
    )
    sections.append(
        '<section id="versions"><h2>Versions</h2>'
        + _definition_table(list(run.versions.items()))
        + "</section>"
    )
    nav = " ".join(
        f'<a href="#{key}">{label}</a>'
        for key, label in (
            ("settings", "Settings"), ("leaderboard", "Leaderboard"), ("comparison", "Comparison"),
            ("held-out", "Held-out"), ("plots", "Plots"), ("failures", "Failures"),
            ("timings", "Timings"), ("versions", "Versions"),
        )
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1><nav>{nav}</nav>"
        + "".join(sections)
        + f"<script>{_SCRIPT}</script></body></html>\n"
    )
