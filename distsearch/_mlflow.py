"""Logging a finished tournament to MLflow (the ``mlflow`` extra).

One parent run per tournament and, nested under it, one child run per
candidate:

- parent: the options and settings as parameters (``config``, ``seed``,
  ``quick``, ``n_splits``, ``metric``, ``winner``, the winner's parameters as
  ``winner.<name>``), the winner's CV mean and standard error
  (``cv_<metric>``, ``cv_<metric>_sem``) and held-out scores
  (``test_<metric>``) as metrics, the run folder's report, summary, results
  table, options, config and plots as artifacts, and the final model (the
  winner refit on all the data) logged with ``mlflow.sklearn`` under
  ``model`` with its signature inferred from the training rows and its pip
  requirements from the packages recorded in ``model.joblib``;
- child: ``model`` and the candidate's parameters (without the pipeline's
  ``model__`` prefix) as parameters, ``rank`` as a tag, and as metrics
  ``mean_<metric>`` / ``std_<metric>`` / ``sem_<metric>`` of every metric,
  the per-fold score as ``fold_<metric>`` at ``step`` = fold index, and
  ``mean_fit_time``.

Invariants: MLflow's global tracking URI is restored after logging; nothing
is logged unless the tournament finished; the checkpoint folder is never
uploaded.
"""

import math

import numpy as np

from ._results import sem, split_scores

_ARTIFACTS = ("report.html", "summary.txt", "cv_results.csv", "options.json", "config.py", "run.json", "model.json")


def resolve_target(option, setting):
    """Where to log: None (not at all) or ``(tracking_uri or None, experiment)``.

    ``option`` is the ``--mlflow`` option (None: not given; True: MLflow's
    default tracking URI; a str: that URI; False: off), which wins over
    ``setting``, the config's ``mlflow`` (None or False: off; True; a URI;
    or a dict with ``tracking_uri`` and/or ``experiment``). Raises
    ValueError for anything else.
    """
    value = setting if option is None else option
    if value is None or value is False:
        return None
    if value is True:
        return None, "distsearch"
    if isinstance(value, str) and value:
        return value, "distsearch"
    if isinstance(value, dict) and set(value) <= {"tracking_uri", "experiment"}:
        uri, experiment = value.get("tracking_uri"), value.get("experiment", "distsearch")
        if (uri is None or (isinstance(uri, str) and uri)) and isinstance(experiment, str) and experiment:
            return uri, experiment
    raise ValueError(
        "expected True, a tracking URI (str), or {'tracking_uri': str, 'experiment': str}, "
        f"got {value!r}"
    )


def check_mlflow():
    """Raise ImportError (naming the extra) when MLflow is not installed."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise ImportError("logging to MLflow needs MLflow: pip install 'distsearch[mlflow]'") from None


def _value(value):
    if isinstance(value, (float, np.floating)):
        return float(value)
    if hasattr(value, "get_params"):
        return type(value).__name__
    return str(value)


def _finite(metrics):
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}


def log_tournament(run, tracking_uri=None, experiment="distsearch"):
    """Log ``run`` (a finished tournament) to MLflow; returns the parent run's id.

    Parameters
    ----------
    run : _Run
        The finished tournament.
    tracking_uri : str or None
        Where to log (a folder, ``file:`` URI, ``http://host:port``, ...);
        None: MLflow's own default (``MLFLOW_TRACKING_URI`` or its local
        store).
    experiment : str
        The experiment's name (created when missing).
    """
    import joblib
    import mlflow
    from mlflow.models import infer_signature

    previous = mlflow.get_tracking_uri() if tracking_uri is not None else None
    if tracking_uri is not None:
        mlflow.set_tracking_uri(str(tracking_uri))
    try:
        mlflow.set_experiment(experiment)
        search, metric = run.search, run.rank_by
        results = search.cv_results_
        metrics = [metric] + [m for m in run.scoring if m != metric]
        sems = {m: sem(split_scores(search, m)) for m in metrics}
        best = search.best_index_
        with mlflow.start_run(run_name=f"tournament {run.run_id}") as parent:
            mlflow.set_tags({"distsearch.run_id": run.run_id, "distsearch.winner": search.best_model_name_})
            params = {
                "config": run.source,
                "seed": run.seed,
                "quick": run.quick,
                "backend": run.backend,
                "n_splits": search.n_splits_,
                "metric": metric,
                "winner": search.best_model_name_,
                "n_candidates": len(results["params"]),
            }
            params.update(
                {f"winner.{k.removeprefix('model__')}": _value(v) for k, v in search.best_params_.items()}
            )
            mlflow.log_params(params)
            mlflow.log_metrics(
                _finite(
                    {f"cv_{m}": results[f"mean_test_{m}"][best] for m in metrics}
                    | {f"cv_{m}_sem": sems[m][best] for m in metrics}
                    | {f"test_{m}": v for m, v in run.winner_test.items()}
                )
            )
            for index in np.argsort(results[f"rank_test_{metric}"], kind="stable"):
                name = str(results["model"][index])
                rank = int(results[f"rank_test_{metric}"][index])
                with mlflow.start_run(run_name=f"{rank} {name}", nested=True):
                    mlflow.set_tag("rank", rank)
                    mlflow.log_params(
                        {"model": name}
                        | {k.removeprefix("model__"): _value(v) for k, v in results["params"][index].items()}
                    )
                    mlflow.log_metrics(
                        _finite(
                            {f"mean_{m}": results[f"mean_test_{m}"][index] for m in metrics}
                            | {f"std_{m}": results[f"std_test_{m}"][index] for m in metrics}
                            | {f"sem_{m}": sems[m][index] for m in metrics}
                            | {"mean_fit_time": results["mean_fit_time"][index]}
                        )
                    )
                    for m in metrics:
                        for k, score in enumerate(split_scores(search, m)[index]):
                            if math.isfinite(score):
                                mlflow.log_metric(f"fold_{m}", float(score), step=k)
            for file_name in _ARTIFACTS:
                if (run.run_dir / file_name).is_file():
                    mlflow.log_artifact(str(run.run_dir / file_name))
            for png in sorted(run.run_dir.glob("*.png")):
                mlflow.log_artifact(str(png), artifact_path="plots")
            saved = joblib.load(run.final_path)
            final = saved["estimator"]
            sample = run.dataset.X.head(20)
            mlflow.sklearn.log_model(
                final,
                name="model",
                signature=infer_signature(sample, final.predict(sample)),
                input_example=sample.head(3),
                # The packages recorded with the model (no slow inference run).
                pip_requirements=[f"{n}=={v}" for n, v in saved.get("packages", {}).items()],
            )
            return parent.info.run_id
    finally:
        if previous is not None:
            mlflow.set_tracking_uri(previous)
