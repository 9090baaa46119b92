"""A distsearch tournament as a Metaflow flow: a ``foreach`` over shards, a join that collects.

The seed project's wish (metaflow-helper, the post's "Idea 4"): hand each of
the cross-validation search's tasks to Metaflow steps. Here the search's
(candidate, fold) fits are split into ``--shards`` shards; each ``shard`` task
runs its share (``distsearch tournament CONFIG --shard i/n``) into a result
store that every step can reach, and the join collects them: the search ends
exactly as one in-process run would (same ``cv_results_``, same winner), then
the winner is scored on the held-out rows, refit on all rows and the run
folder written (summary, leaderboard, plots, ``model.joblib``)::

    pip install "distsearch[all,metaflow]"
    python examples/metaflow_tournament.py run --config examples/regression.py --shards 4

On your own compute, decorate the ``shard`` step with ``@batch`` or
``@kubernetes`` (and give ``--store s3://bucket/prefix``, with fsspec and
s3fs installed); nothing else changes. The default store is a folder in the
temporary directory, for runs on one machine. The checkpoint key that signs
the records is made in ``start`` and shared with every step as an artifact,
so tasks on other machines accept each other's records.

Parameters (``--name value``): ``config`` (a tournament config file, the
seed's own config files included), ``shards``, ``store``, ``seed``, ``quick``
(``true`` for the smoke-test size), ``n_jobs`` (fits in parallel inside each
task) and ``output`` (where the join writes the run folder).
"""

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from metaflow import FlowSpec, Parameter, current, step

DEFAULT_CONFIG = str(Path(__file__).with_name("regression.py"))


@contextlib.contextmanager
def _checkpoint_key(key):
    """The run's checkpoint key, as the file DISTSEARCH_CHECKPOINT_KEY_FILE names."""
    with tempfile.TemporaryDirectory(prefix="distsearch-key-") as folder:
        path = os.path.join(folder, "checkpoint.key")
        with open(path, "w") as file:
            file.write(key + "\n")
        os.chmod(path, 0o600)
        previous = os.environ.get("DISTSEARCH_CHECKPOINT_KEY_FILE")
        os.environ["DISTSEARCH_CHECKPOINT_KEY_FILE"] = path
        try:
            yield
        finally:
            if previous is None:
                del os.environ["DISTSEARCH_CHECKPOINT_KEY_FILE"]
            else:
                os.environ["DISTSEARCH_CHECKPOINT_KEY_FILE"] = previous


class TournamentFlow(FlowSpec):
    """Shards of a distsearch tournament in a foreach, collected in the join."""

    config = Parameter("config", default=DEFAULT_CONFIG, help="tournament config file")
    shards = Parameter("shards", type=int, default=4, help="number of shard tasks")
    store = Parameter(
        "store", default="", help="result store: a folder or fsspec URL (default: a temp folder)"
    )
    seed = Parameter("seed", type=int, default=0, help="seeds data, split, folds, candidates")
    quick = Parameter("quick", type=bool, default=False, help="smoke-test size")
    n_jobs = Parameter("n_jobs", type=int, default=-1, help="parallel fits inside each task")
    output = Parameter("output", default="results", help="folder of the run folder")

    def _tournament(self, log=print, **kwargs):
        from distsearch._tournament import run_tournament

        with _checkpoint_key(self.checkpoint_key):
            return run_tournament(
                self.config_path(),
                seed=self.seed,
                quick=self.quick,
                n_jobs=self.n_jobs,
                progress=False,
                store=self.result_store,
                log=log,
                **kwargs,
            )

    def config_path(self):
        """The config file; a copy of its text where the file is not there (a remote task)."""
        if os.path.isfile(self.config):
            return self.config
        path = os.path.join(tempfile.mkdtemp(prefix="distsearch-config-"), os.path.basename(self.config))
        Path(path).write_text(self.config_text)
        return path

    @step
    def start(self):
        """Read the config, make the store and the key every task shares."""
        self.config_text = Path(self.config).read_text()
        self.result_store = self.store or os.path.join(
            tempfile.gettempdir(), f"distsearch-{current.flow_name}-{current.run_id}"
        )
        self.checkpoint_key = secrets.token_hex(32)
        self.shard_ids = list(range(self.shards))
        self.next(self.shard, foreach="shard_ids")

    @step
    def shard(self):
        """Run shard ``self.input`` of the search's fits (add @batch / @kubernetes here)."""
        search = self._tournament(shard=(self.input, self.shards))
        self.n_fits = search.n_shard_fits_
        self.next(self.join)

    @step
    def join(self, inputs):
        """Collect the shards, score the winner on the held-out rows, refit it, report."""
        self.merge_artifacts(inputs, exclude=["n_fits"])
        self.fits_per_shard = [task.n_fits for task in inputs]
        run = self._tournament(collect=True, output=self.output)
        search = run.search
        self.cv_results = search.cv_results_
        self.best_model_name = search.best_model_name_
        self.best_params = search.best_params_
        self.winner_test = run.winner_test
        self.run_dir = str(run.run_dir)
        self.summary = (run.run_dir / "summary.txt").read_text()
        self.next(self.end)

    @step
    def end(self):
        """Print where the run folder is."""
        print(f"winner {self.best_model_name} {self.best_params}: held-out {self.winner_test}")
        print(f"run folder: {self.run_dir}")


if __name__ == "__main__":
    TournamentFlow()
