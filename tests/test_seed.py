"""The seed's (metaflow-helper v0.0.1) config files run as they are.

``seed_configs/`` holds the seed's four example configs verbatim
(``examples/model-selection/*_config.py`` at tag v0.0.1).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_regression

from distsearch import from_contenders_spec
from distsearch._cli import main
from distsearch._config import ConfigError, _load_config
from distsearch._contenders import _read_spec, randomized_contenders_spec
from distsearch._seed import _RULES, SEED_RANDOMIZED_CONTENDERS_SPEC
from distsearch._tournament import _prepare
from distsearch.models import KerasRegressor, LightGBMRegressor

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

CONFIGS = Path(__file__).parent / "seed_configs"
EXAMPLES = Path(__file__).parent.parent / "examples"
SEED_CONFIGS = ["randomized_config", "grid_config", "test_randomized_config", "test_grid_config"]


def seed_generate_data(init_kwargs, n_numeric_features):
    """metaflow-helper v0.0.1 examples/model-selection/common.py, verbatim."""
    numeric_features = [f'num_{s}' for s in range(n_numeric_features)]
    df_all_list = []
    for category in init_kwargs:
        X_all, y_all, coef = make_regression(
            **init_kwargs[category],
        )
        df = pd.DataFrame(data={'target': y_all})
        df[numeric_features] = pd.DataFrame(
            data=X_all,
        )
        df['cat'] = category
        df_all_list.append(df)

    df_all = pd.concat(df_all_list, ignore_index=True)

    categorical_features = ['cat']

    return df_all, numeric_features, categorical_features


def config_module(name):
    namespace = {}
    exec((CONFIGS / f"{name}.py").read_text(), namespace)
    return namespace


@pytest.mark.parametrize("name", SEED_CONFIGS)
def test_seed_config_loads_with_the_seeds_rows_and_every_key_mapped(name):
    seed = config_module(name)
    config, dataset, models, n_iter, scoring, rank_by, n_splits = _prepare(
        CONFIGS / f"{name}.py", seed=0, quick=False
    )
    # The data: exactly the seed's rows, columns and target.
    df, numeric, categorical = seed_generate_data(
        seed["make_regression_init_kwargs"], seed["n_numeric_features"]
    )
    pd.testing.assert_frame_equal(dataset.X, df[numeric + categorical])
    pd.testing.assert_series_equal(dataset.y, df["target"])
    assert f"mean {df['target'].mean():.4g}, std {df['target'].std():.4g}" in dataset.description
    # The settings.
    assert n_splits == seed["n_splits"] and config.test_size == seed["test_size"]
    assert list(scoring) == ["r2"] and rank_by == "r2"
    assert [name for name, _, _ in models] == ["LightGBMRegressor", "KerasRegressor"]
    assert [type(est) for _, est, _ in models] == [LightGBMRegressor, KerasRegressor]
    assert all(est.random_state == 0 for _, est, _ in models)  # seeded by --seed
    expected_n_iter = [entry.get("__n_iter") for entry in seed["contenders_spec"]]
    assert list(n_iter.values()) == expected_n_iter
    # Every setting and every key of the spec is listed once in the notes.
    notes = "\n".join(config.notes)
    for setting in ("make_regression_init_kwargs", "n_numeric_features", "n_informative_numeric_features",
                    "n_categorical_features", "score_path", "dependencies", "auto_open_figures"):
        assert sum(line.startswith(setting) for line in config.notes) == 1
    for entry in seed["contenders_spec"]:
        for key in entry:
            if key not in ("__model", "__n_iter"):
                assert f" {key} " in notes or f" {key}:" in notes, key
    assert sum("flaws" in line for line in config.notes) == 1
    # Mapped values keep the seed's meaning.
    keras_space = models[1][2]
    assert keras_space["hidden_layer_sizes"] == list(
        seed["contenders_spec"][1]["__model__init_kwargs__dense_layer_widths"]
    )
    assert keras_space["batch_size"] == [32]  # the seed's None: Keras's default
    assert keras_space["validation_fraction"] == [0.2]
    assert "activation" not in keras_space  # unset in the seed: distsearch's ReLU
    assert sorted(models[0][2]) == ["early_stopping_rounds", "learning_rate", "max_depth", "n_estimators"]


RUN_FILES = {"checkpoint", "config.py", "cv_results.csv", "model.joblib", "model.json", "options.json",
             "predicted-vs-true.png", "report.html", "run.json", "scores.png", "summary.txt",
             "hyperparameters-KerasRegressor.png", "hyperparameters-LightGBMRegressor.png",
             "parallel-KerasRegressor.png", "parallel-LightGBMRegressor.png"}


def quick_candidates(entry):
    """A seed spec entry's candidates under --quick: its __n_iter or grid size, at most 2."""
    if "__n_iter" in entry:
        return min(entry["__n_iter"], 2)
    return min(int(np.prod([len(v) for k, v in entry.items() if k != "__model"])), 2)


@pytest.mark.parametrize("name", SEED_CONFIGS)
def test_the_seed_configs_run_unmodified_with_quick(name, tmp_path, capsys):
    """``distsearch tournament <seed config> --quick``: each file as it is, to a complete run.

    ``n_splits = 1`` (the test configs) is the seed's single
    train_test_split, with ``test_size`` of the rows for validation.
    """
    seed = config_module(name)
    output = tmp_path / "out"
    code = main(["tournament", str(CONFIGS / f"{name}.py"), "--quick", "--n-jobs", "1",
                 "--no-progress", "--output", str(output)])
    assert code == 0
    (run_dir,) = output.iterdir()
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES
    summary = (run_dir / "summary.txt").read_text()
    # The summary lists what each setting and key of the file became.
    assert "Seed config (metaflow-helper format)" in summary
    for setting in ("make_regression_init_kwargs", "n_numeric_features", "n_informative_numeric_features",
                    "n_categorical_features", "score_path", "dependencies", "auto_open_figures"):
        assert f"\n  {setting} " in summary or f"\n  {setting}:" in summary, setting
    for entry in seed["contenders_spec"]:
        model = entry["__model"][0].rpartition(".")[2]
        for key in set(entry) - {"__model", "__n_iter"}:
            assert f"\n  {model} {key} -> " in summary or f"\n  {model} {key}: no effect" in summary, key
    assert "__model__init_kwargs__dense_layer_widths -> hidden_layer_sizes" in summary
    assert "__model__fit_kwargs__monitor: no effect" in summary
    assert summary.count("seed behaviour not kept (flaws)") == 1
    # The target statistics are those of the seed's own rows (all of them: --quick subsamples after).
    df, _, _ = seed_generate_data(seed["make_regression_init_kwargs"], seed["n_numeric_features"])
    target = df["target"]
    assert (f"target target: mean {target.mean():.4g}, std {target.std():.4g}, "
            f"min {target.min():.4g}, max {target.max():.4g}") in summary
    assert f"rows: {len(df)}, features: 11 (10 numeric, 1 categorical: cat)" in summary
    # One leaderboard row, one cv_results row per candidate, every fit scored.
    n_candidates = sum(quick_candidates(entry) for entry in seed["contenders_spec"])
    n_folds = min(seed["n_splits"], 3)
    assert f"Leaderboard: {n_candidates} candidates ranked by r2 (mean and standard error over {n_folds} folds)" in summary
    if seed["n_splits"] == 1:
        assert "cross-validation: ShuffleSplit(1" in summary
    results = pd.read_csv(run_dir / "cv_results.csv")
    assert len(results) == n_candidates
    assert sorted(results["model"]) == sorted(
        m for entry in seed["contenders_spec"] for m in [entry["__model"][0].rpartition(".")[2]] * quick_candidates(entry)
    )
    folds = [c for c in results if c.startswith("split") and c.endswith("_test_r2")]
    assert folds == [f"split{i}_test_r2" for i in range(n_folds)]
    assert np.isfinite(results[folds].to_numpy()).all()
    assert "seed config: score_path 'sklearn.metrics.r2_score' -> scoring = 'r2'" in capsys.readouterr().out


# Every argument the seed's helpers take (metaflow_helper/models/{lightgbm,keras}.py
# at v0.0.1): their own, the build function's, and the Keras fit arguments of
# the seed's configs.
SEED_LIGHTGBM = {"init": ["mode", "iterations", "input_dim"],
                 "fit": ["validation_data", "eval_metric", "early_stopping_rounds", "verbose"]}
SEED_KERAS = {
    "init": ["build_model", "input_dim", "mode", "iterations", "eval_metric",
             # build_keras_regression_model's arguments
             "dense_layer_widths", "dropout_probabilities", "metric", "optimizer", "loss",
             "activation", "kernel_initializer", "bias_initializer", "l1_factor", "l2_factor"],
    "fit": ["validation_data", "patience", "min_delta", "monitor",
            "batch_size", "epochs", "validation_split", "verbose"],
}


def test_every_seed_helper_key_is_mapped_or_reported():
    for model, keys in (("LightGBMRegressor", SEED_LIGHTGBM), ("KerasRegressor", SEED_KERAS)):
        for kind, names in keys.items():
            assert set(names) <= set(_RULES[model][kind]), (model, kind)
    values = {
        "build_model": ["metaflow_helper.models.build_keras_regression_model"],
        "dense_layer_widths": [(15, 15)], "dropout_probabilities": [(0.1,)], "metric": ["mse"],
        "optimizer": ["sgd"], "loss": ["mean_squared_error"], "activation": [None],
        "kernel_initializer": ["random_normal"], "bias_initializer": ["random_normal"],
        "l1_factor": [1e-4], "l2_factor": [1e-3], "iterations": [7], "mode": ["TEST"],
        "input_dim": [11], "eval_metric": ["mse"], "validation_data": [None], "patience": [3],
        "min_delta": [0.1], "monitor": ["val_mse"], "batch_size": [None],
        "validation_split": [0.2], "verbose": [0],
    }
    spec = [
        {"__model": ["metaflow_helper.models.KerasRegressor"],
         **{f"__model__{kind}_kwargs__{name}": values[name]
            for kind, names in SEED_KERAS.items() for name in names if name != "epochs"}},
        {"__model": ["metaflow_helper.models.LightGBMRegressor"], "__model__init_kwargs__max_depth": [2],
         **{f"__model__{kind}_kwargs__{name}": values.get(name, [10])
            for kind, names in SEED_LIGHTGBM.items() for name in names}},
    ]
    (_, keras, keras_space), (_, lightgbm, lightgbm_space) = from_contenders_spec(spec)[0]
    assert {k: v[0] for k, v in keras_space.items()} == {
        "hidden_layer_sizes": (15, 15), "dropout": 0.1, "optimizer": "sgd", "activation": "linear",
        "l1": 1e-4, "l2": 1e-3, "epochs": 7, "patience": 3, "min_delta": 0.1, "batch_size": 32,
        "validation_fraction": 0.2, "verbose": 0,
    }
    assert {k: v[0] for k, v in lightgbm_space.items()} == {
        "max_depth": 2, "n_estimators": 7, "early_stopping_rounds": 10,
    }
    notes = _read_spec(spec)[2]
    for entry in spec:
        model = entry["__model"][0].rpartition(".")[2]
        for key in entry:
            if key != "__model":
                assert sum(n.startswith((f"{model} {key} ", f"{model} {key}:")) for n in notes) == 1, key
    assert type(keras) is KerasRegressor and type(lightgbm) is LightGBMRegressor


KERAS = ["metaflow_helper.models.KerasRegressor"]
LIGHTGBM = ["metaflow_helper.models.LightGBMRegressor"]


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"__model": LIGHTGBM, "__model__fit_kwargs__eval_metric": ["mae"]},
         r"key '__model__fit_kwargs__eval_metric': 'mae': distsearch's LightGBM regressor early-stops on l2"),
        ({"__model": LIGHTGBM, "__model__fit_kwargs__callbacks": [None]},
         r"key '__model__fit_kwargs__callbacks': the seed's LightGBMRegressor fit argument 'callbacks' has no"),
        ({"__model": LIGHTGBM, "__model__init_kwargs__boosting_type": ["dart"]},
         r"'boosting_type' has no counterpart in distsearch.models.LightGBMRegressor"),
        ({"__model": KERAS, "__model__init_kwargs__build_model": ["my.build"]},
         r"'my.build': only the seed's build_keras_regression_model can be mapped"),
        ({"__model": KERAS, "__model__init_kwargs__dropout_probabilities": [(0.1, 0.2)]},
         r"one dropout rate for every hidden layer"),
        ({"__model": KERAS, "__model__init_kwargs__activation": ["relu"],
          "__model__init_kwargs__iterations": [5], "__model__fit_kwargs__epochs": [9]},
         r"keys '__model__init_kwargs__iterations' and '__model__fit_kwargs__epochs' both set 'epochs'"),
        ({"__model": KERAS, "__model__predict_kwargs__x": [1]}, r"unknown key '__model__predict_kwargs__x'"),
    ],
)
def test_seed_keys_that_cannot_keep_their_meaning_are_errors(entry, message):
    with pytest.raises(ValueError, match=r"contenders_spec\[0\] \(metaflow_helper.models.\w+\): .*" + message):
        from_contenders_spec([entry])


@pytest.mark.parametrize(
    "text, key, expected",
    [
        ("score_path = 'sklearn.metrics.nothing'\n", "score_path", "cannot import 'sklearn.metrics.nothing'"),
        ("score_path = 'sklearn.metrics.r2_score'\nscoring = 'r2'\n", "score_path", "either scoring or score_path"),
        ("n_numeric_features = 3\n", "n_numeric_features", "needs make_regression_init_kwargs"),
        ("n_numeric_features = 3\nmake_regression_init_kwargs = {'a': {'n_features': 4}}\n",
         "n_numeric_features", "is 3, but the categories have n_features 4"),
        ("make_regression_init_kwargs = {'a': {'n_featurez': 4}}\n",
         "make_regression_init_kwargs['a']", "'n_featurez' is not a make_regression argument"),
    ],
)
def test_bad_seed_settings_name_the_key(tmp_path, text, key, expected):
    path = tmp_path / "config.py"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        _prepare(path, seed=0, quick=True)
    assert info.value.key == key


def test_a_loss_as_score_path_is_minimised(tmp_path):
    path = tmp_path / "config.py"
    path.write_text("score_path = 'sklearn.metrics.mean_squared_error'\n")
    config = _load_config(path)
    assert list(config.scoring) == ["neg_mean_squared_error"]
    assert "a loss: minimised (the seed maximised every metric)" in config.notes[0]


def _comparable(space):
    return {k: (v.dist.name, v.args) if hasattr(v, "rvs") else v for k, v in space.items()}


def test_the_example_and_randomized_contenders_spec_are_the_seeds_randomized_config():
    seed = config_module("randomized_config")
    example, translated, original = (
        from_contenders_spec(spec)
        for spec in (_load_config(EXAMPLES / "seed_contenders_spec.py").contenders_spec,
                     randomized_contenders_spec(), seed["contenders_spec"])
    )
    for models, n_iter in (example, translated):
        assert n_iter == original[1] == {"LightGBMRegressor": 5, "KerasRegressor": 5}
        assert [(n, type(e), _comparable(s)) for n, e, s in models] == [
            (n, type(e), _comparable(s)) for n, e, s in original[0]
        ]
    assert from_contenders_spec(SEED_RANDOMIZED_CONTENDERS_SPEC)[1] == original[1]
    assert [_comparable(s) for _, _, s in from_contenders_spec(SEED_RANDOMIZED_CONTENDERS_SPEC)[0]] == [
        _comparable(s) for _, _, s in original[0]
    ]
    # The example's data are the seed's rows too.
    _, dataset, *_ = _prepare(EXAMPLES / "seed_contenders_spec.py", seed=0, quick=False)
    df, numeric, categorical = seed_generate_data(seed["make_regression_init_kwargs"], 10)
    pd.testing.assert_frame_equal(dataset.X, df[numeric + categorical])
