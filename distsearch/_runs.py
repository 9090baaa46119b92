"""Run history: what a run folder records of its run, ``distsearch runs`` and ``show``.

A run folder ``<output>/<run-id>/`` keeps, besides its reports:

- ``config.py``: a copy of the config file the run was started with (none
  for the built-in default or a config object given in Python);
- ``options.json``: the config's path and SHA-256 and every option of the
  run (seed, quick, backend, scheduler address, n_jobs, output, progress,
  search, n_trials, mlflow);
- ``run.json``: written when the run finishes: its id, start date, config,
  winner, metric, CV score, held-out score and wall time.

Invariants:

- ``options.json`` is written before the first fit; ``run.json`` only by a
  finished run, so a run folder without it is an unfinished (or crashed) run;
- ``--resume`` compares the new config and options with ``options.json``
  and refuses, listing every difference, when anything that decides the
  results differs (the config file's content, the seed, ``--quick``,
  ``--search``); where the fits run (backend, scheduler address, n_jobs),
  the progress bar, the output folder and ``--n-trials`` (an Optuna study
  resumed with more trials keeps its trials) may change.
"""

import difflib
import hashlib
import json
from pathlib import Path

CONFIG_COPY = "config.py"
OPTIONS = "options.json"
RECORD = "run.json"

# Options that decide the results: a resumed run must keep them.
_RESULT_OPTIONS = ("config_sha256", "seed", "quick", "search")


def _config_text(source):
    path = Path(source)
    return path.read_text() if path.is_file() else None


def options_record(source, **options):
    """The ``options.json`` content of a run: the config's path and hash, every option."""
    text = _config_text(source)
    return {
        "config": str(source),
        "config_sha256": hashlib.sha256(text.encode()).hexdigest() if text is not None else None,
        **options,
    }


def record_start(run_dir, source, options, resume):
    """Write (or, resuming, check) ``config.py`` and ``options.json`` of a run.

    Returns
    -------
    list of str
        The differences that forbid the resume (empty: go on). Nothing is
        written when there are some.
    """
    run_dir = Path(run_dir)
    text = _config_text(source)
    if resume:
        previous_path = run_dir / OPTIONS
        if not previous_path.is_file():
            return [f"{previous_path} is missing: the folder was not started by this version"]
        previous = json.loads(previous_path.read_text())
        differences = []
        for key in _RESULT_OPTIONS:
            if previous.get(key) != options.get(key):
                if key == "config_sha256":
                    differences.append(_config_difference(run_dir, previous, options, text))
                else:
                    differences.append(f"{key}: {previous.get(key)!r} then, {options.get(key)!r} now")
        if differences:
            return differences
    if text is not None:
        (run_dir / CONFIG_COPY).write_text(text)
    (run_dir / OPTIONS).write_text(json.dumps(options, indent=2, sort_keys=True, default=str) + "\n")
    return []


def _config_difference(run_dir, previous, options, text):
    head = f"config: {previous.get('config')} then, {options.get('config')} now; the contents differ"
    copy = run_dir / CONFIG_COPY
    if text is None or not copy.is_file():
        return head
    diff = list(
        difflib.unified_diff(
            copy.read_text().splitlines(), text.splitlines(), "run's config.py", "new config", n=0, lineterm=""
        )
    )[2:]
    shown = [line for line in diff if not line.startswith("@@")][:20]
    return head + ":\n" + "\n".join("    " + line for line in shown)


def record_finish(run, timings, started_at):
    """Write ``run.json``: the run's line in ``distsearch runs``."""
    search, metric = run.search, run.rank_by
    record = {
        "id": run.run_id,
        "date": started_at,
        "config": run.source,
        "quick": run.quick,
        "winner": search.best_model_name_,
        "metric": metric,
        "cv_score": float(search.cv_results_[f"mean_test_{metric}"][search.best_index_]),
        "test_score": float(run.winner_test[metric]),
        "wall_seconds": float(timings["total"]),
    }
    (Path(run.run_dir) / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return record


def list_runs(output):
    """Every run folder of ``output``, oldest first: its ``run.json`` or what is known."""
    output = Path(output)
    runs = []
    for folder in sorted(p for p in output.iterdir() if p.is_dir()) if output.is_dir() else []:
        record_path = folder / RECORD
        if record_path.is_file():
            runs.append(json.loads(record_path.read_text()))
        elif (folder / OPTIONS).is_file():
            options = json.loads((folder / OPTIONS).read_text())
            runs.append({"id": folder.name, "config": options.get("config"), "unfinished": True})
    return runs


def _cell(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"


def runs_text(output):
    """The table ``distsearch runs`` prints (within 100 columns)."""
    runs = list_runs(output)
    if not runs:
        return f"no runs in {output}"
    rows = [["id", "date", "config", "winner", "metric", "CV", "held-out", "wall s"]]
    for run in runs:
        config = str(run.get("config", "-"))
        if len(config) > 20:
            config = "..." + config[-17:]
        if run.get("unfinished"):
            rows.append([run["id"], "-", config, "(unfinished)", "-", "-", "-", "-"])
            continue
        rows.append(
            [
                run["id"],
                run["date"][:16].replace("T", " "),
                config + (" (quick)" if run.get("quick") else ""),
                run["winner"] if len(run["winner"]) <= 12 else run["winner"][:11] + "~",
                run["metric"],
                _cell(run["cv_score"], 4),
                _cell(run["test_score"], 4),
                _cell(run["wall_seconds"], 1),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = {5, 6, 7}
    return "\n".join(
        "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
        for r in rows
    )


def run_folder(output, run):
    """The folder of ``run`` (an id in ``output``, or a folder's path); ValueError if none."""
    for candidate in (Path(output) / run, Path(run)):
        if (candidate / "summary.txt").is_file():
            return candidate
    raise ValueError(f"no finished run {run!r} in {output} (see `distsearch runs --output {output}`)")


def show_text(output, run):
    """What ``distsearch show RUN`` prints: the run's ``summary.txt``, then its files."""
    folder = run_folder(output, run)
    files = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return (folder / "summary.txt").read_text() + f"\nFiles in {folder}:\n  " + "\n  ".join(files)
