"""The ``distsearch`` command line (also ``python -m distsearch``)."""

import argparse
import sys

from .engines import engine_names


def _parser():
    parser = argparse.ArgumentParser(
        prog="distsearch",
        description="Cross-validated model selection over several models at once.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tournament = sub.add_parser(
        "tournament",
        help="run a model-selection tournament",
        description=(
            "Run a model-selection tournament: cross-validate every candidate of "
            "every model, score the winner (and an ensemble of the best) on a "
            "held-out test set, refit the winner on all the data and write "
            "results/<run-id>/ (summary.txt, cv_results.csv, plots, model.joblib). "
            "Without CONFIG: LightGBM, Keras and a linear baseline on mock "
            "regression data."
        ),
    )
    tournament.add_argument(
        "config",
        nargs="?",
        help="a Python config file (see examples/); default: the built-in tournament",
    )
    tournament.add_argument(
        "--backend",
        choices=engine_names(),
        help="where the fits run (default: joblib's active backend, loky)",
    )
    tournament.add_argument(
        "--scheduler-address",
        help="address of a running dask scheduler (or ray cluster) for --backend",
    )
    tournament.add_argument(
        "--n-jobs", type=int, default=-1, help="parallel fits (default: -1, all cores)"
    )
    tournament.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the mock data, the split, the folds and the candidates (default: 0)",
    )
    tournament.add_argument(
        "--output",
        default="results",
        help="folder that gets the run folder <run-id>/ (default: results)",
    )
    tournament.add_argument(
        "--quick",
        action="store_true",
        help=(
            "smoke-test size: at most 300 rows, 3 folds, 2 candidates per model, "
            "n_estimators and epochs capped at 20"
        ),
    )
    tournament.add_argument(
        "--no-progress",
        action="store_true",
        help=(
            "no progress during the search (by default: a bar in a terminal, a line "
            "per tenth of the fits in a log, when tqdm is installed)"
        ),
    )
    tournament.add_argument(
        "--search",
        choices=("exhaustive", "optuna", "halving"),
        help=(
            "exhaustive: every candidate of every model (default, or the config's "
            "search); optuna: Optuna's model-based search, --n-trials trials; "
            "halving: successive halving across all the models (iterations as the "
            "resource of models that have them, rows for the others)"
        ),
    )
    tournament.add_argument(
        "--n-trials",
        type=int,
        help="trials of --search optuna (default: as many as the exhaustive search's candidates)",
    )
    tournament.add_argument(
        "--resume",
        metavar="RUN_ID",
        help=(
            "continue run RUN_ID of --output after a crash or Ctrl-C: the fits its "
            "checkpoint recorded are not run again (give the same config and options)"
        ),
    )
    tournament.add_argument(
        "--shard",
        metavar="I/N",
        help=(
            "run only shard I of N of the search's fits (I from 0) into --store, "
            "then stop; run every shard (anywhere that reaches the store), then --collect"
        ),
    )
    tournament.add_argument(
        "--collect",
        action="store_true",
        help=(
            "finish a sharded search from --store (nothing is refitted; a missing "
            "shard is an error naming it and its fits), then score, refit and report"
        ),
    )
    tournament.add_argument(
        "--store",
        help="the result store the shards share: a folder, or an fsspec URL (s3://...)",
    )
    tournament.add_argument(
        "--mlflow",
        nargs="?",
        const=True,
        metavar="TRACKING_URI",
        help=(
            "log the run to MLflow (needs the mlflow extra): a parent run, a child run per "
            "candidate, the report, plots and final model; to TRACKING_URI, or MLflow's "
            "default (MLFLOW_TRACKING_URI); overrides the config's mlflow setting"
        ),
    )
    runs = sub.add_parser(
        "runs",
        help="list past runs",
        description=(
            "List the runs of an output folder, oldest first: id, date, config, winner, "
            "metric, CV and held-out score, wall time."
        ),
    )
    runs.add_argument("--output", default="results", help="the runs' folder (default: results)")
    show = sub.add_parser(
        "show", help="print a run's summary", description="Print the summary.txt of a run and list its files."
    )
    show.add_argument("run", metavar="RUN", help="a run id of --output (or a run folder's path)")
    show.add_argument("--output", default="results", help="the runs' folder (default: results)")
    return parser


def main(argv=None):
    """Run the ``distsearch`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for a usage or configuration error, 1 when --collect
        finds shards missing.
    """
    args = _parser().parse_args(argv)
    if args.command == "runs":
        from ._runs import runs_text

        print(runs_text(args.output))
        return 0
    if args.command == "show":
        from ._runs import show_text

        try:
            print(show_text(args.output, args.run))
        except ValueError as exc:
            print(f"distsearch show: {exc}", file=sys.stderr)
            return 2
        return 0
    from ._config import ConfigError
    from ._shard import ShardError
    from ._tournament import run_tournament

    try:
        run_tournament(
            args.config,
            seed=args.seed,
            backend=args.backend,
            scheduler_address=args.scheduler_address,
            n_jobs=args.n_jobs,
            output=args.output,
            quick=args.quick,
            progress=False if args.no_progress else None,  # None: when tqdm is installed
            resume=args.resume,
            shard=args.shard,
            collect=args.collect,
            store=args.store,
            search=args.search,
            n_trials=args.n_trials,
            mlflow=args.mlflow,
        )
    except ConfigError as exc:
        print(f"distsearch tournament: configuration error: {exc}", file=sys.stderr)
        return 2
    except ShardError as exc:
        print(f"distsearch tournament: {exc}", file=sys.stderr)
        return 1
    return 0
