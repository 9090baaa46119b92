"""The Optuna search: space mapping, batched asks, fold reports and tells."""

import itertools
import math
import sys

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeRegressor

optuna = pytest.importorskip("optuna")

from distsearch._optuna import (  # noqa: E402
    _DUPLICATE_ATTR,
    _MAX_REDRAWS,
    _ask,
    _FoldReports,
    _import_optuna,
    _OptunaSpace,
    _tell,
    _to_distribution,
)
from distsearch._spaces import _check_models, _generate_candidates, _Model  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
od = optuna.distributions


# ----------------------------------------------------------------------
# Mapping distsearch spaces to Optuna distributions
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, expected",
    [
        (stats.loguniform(1e-3, 10), od.FloatDistribution(1e-3, 10, log=True)),
        (stats.loguniform(1e-3, 10, scale=2), od.FloatDistribution(2e-3, 20, log=True)),
        (stats.uniform(loc=1, scale=3), od.FloatDistribution(1.0, 4.0)),
        (stats.randint(1, 5), od.IntDistribution(1, 4)),
        (stats.randint(1, 5, loc=2), od.IntDistribution(3, 6)),
        ([0.1, 1.0, "auto", None, True], od.CategoricalDistribution([0.1, 1.0, "auto", None, True])),
        (np.array([1, 2, 3]), od.CategoricalDistribution([1, 2, 3])),
        (od.FloatDistribution(0.5, 2.0, step=0.5), od.FloatDistribution(0.5, 2.0, step=0.5)),
    ],
)
def test_to_distribution(values, expected):
    distribution, _ = _to_distribution(values, "p")
    assert distribution == expected
    # numpy scalars become plain Python values (Optuna's storages keep them).
    if isinstance(distribution, od.CategoricalDistribution):
        assert all(type(c) in (type(None), bool, int, float, str) for c in distribution.choices)


def test_categorical_of_objects_decodes_to_the_same_objects():
    choices = [Ridge(alpha=1.0), Ridge(alpha=2.0), StandardScaler()]
    space = _OptunaSpace(
        [_Model("pipe", Pipeline([("scale", "passthrough"), ("model", Ridge())]),
                {"model": choices})],
        multi_model=False,
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        _, params = space.suggest(trial)
        assert any(params["model"] is c for c in choices)
        assert space.decode(trial.params)[1]["model"] is params["model"]
        assert isinstance(trial.params["model"], str)  # the repr stands in
        seen.add(id(params["model"]))
    assert len(seen) == 3


@pytest.mark.parametrize(
    "values, named",
    [
        (stats.norm(0, 1), "scipy.stats.norm(0, 1)"),
        (stats.expon(), "scipy.stats.expon()"),
        (stats.loguniform(1, 10, loc=1), "scipy.stats.loguniform(1, 10, loc=1)"),
        (stats.poisson(3), "scipy.stats.poisson(3)"),
    ],
)
def test_unmappable_distribution_is_an_error_naming_it(values, named):
    models = [_Model("ridge", Ridge(), {"alpha": values})]
    with pytest.raises(TypeError) as info:
        _OptunaSpace(models, multi_model=True)
    message = str(info.value)
    assert "Model 'ridge', parameter 'alpha'" in message
    assert named in message


def test_missing_optuna_raises_import_error_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"distsearch\[optuna\]"):
        _import_optuna()


def test_optuna_distributions_pass_distsearch_space_checks_not_its_sampler():
    space = {"alpha": od.FloatDistribution(0.1, 10, log=True), "fit_intercept": [True, False]}
    [model] = _check_models([("ridge", Ridge(), space)], None)
    assert model.space is space
    with pytest.raises(ValueError, match="no parameter 'alpah'"):
        _check_models([("ridge", Ridge(), {"alpah": space["alpha"]})], None)
    with pytest.raises(TypeError, match=r"Model 'ridge': \['alpha'\] are Optuna"):
        _generate_candidates([model], [3], 0, True)


# ----------------------------------------------------------------------
# The conditional space
# ----------------------------------------------------------------------
MODELS = [
    _Model("ridge", Ridge(), {"alpha": stats.loguniform(1e-3, 1e3)}),
    _Model(
        "tree",
        DecisionTreeRegressor(),
        [{"max_depth": stats.randint(1, 9)}, {"min_samples_leaf": [1, 5, 20]}],
    ),
]


def test_conditional_space_each_models_params_only_under_it():
    space = _OptunaSpace(MODELS, multi_model=True)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    expected_keys = {
        (0, None): {"model", "ridge:alpha"},
        (1, 0): {"model", "tree:space", "tree:0:max_depth"},
        (1, 1): {"model", "tree:space", "tree:1:min_samples_leaf"},
    }
    seen = set()
    for _ in range(30):
        trial = study.ask()
        model_idx, params = space.suggest(trial)
        sub = trial.params.get("tree:space") if model_idx == 1 else None
        assert set(trial.params) == expected_keys[(model_idx, sub)]
        assert trial.params["model"] == ["ridge", "tree"][model_idx]
        assert space.decode(trial.params) == (model_idx, params)
        if model_idx == 0:
            assert 1e-3 <= params["alpha"] <= 1e3
        elif sub == 0:
            assert params == {"max_depth": trial.params["tree:0:max_depth"]}
            assert 1 <= params["max_depth"] <= 8
        seen.add((model_idx, sub))
        study.tell(trial, 0.0)
    assert seen == set(expected_keys)


def test_drop_in_form_uses_the_estimators_own_names():
    space = _OptunaSpace([_Model("Ridge", Ridge(), {"alpha": [0.1, 1.0]})], multi_model=False)
    trial = optuna.create_study().ask()
    assert space.suggest(trial)[0] == 0
    assert set(trial.params) == {"alpha"}


def test_decode_rejects_a_trial_of_another_space():
    space = _OptunaSpace(MODELS, multi_model=True)
    with pytest.raises(ValueError, match="'lasso'"):
        space.decode({"model": "lasso"})
    with pytest.raises(ValueError, match="'ridge:alpha'"):
        space.decode({"model": "ridge"})


# ----------------------------------------------------------------------
# Batched asks, fold reports, tells
# ----------------------------------------------------------------------
class _RecordingSampler(optuna.samplers.RandomSampler):
    """A random sampler that records the RUNNING trials it is shown."""

    def __init__(self, seed):
        super().__init__(seed=seed)
        self.running_seen = []

    def sample_independent(self, study, trial, param_name, distribution):
        running = study.get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
        )
        self.running_seen.append(
            (trial.number, param_name, {t.number: dict(t.params) for t in running})
        )
        return super().sample_independent(study, trial, param_name, distribution)


def test_batch_ask_shows_the_sampler_the_batchs_earlier_trials_with_params():
    sampler = _RecordingSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    space = _OptunaSpace(MODELS, multi_model=True)
    batch = _ask(study, space, 3)
    assert [t.number for t, _ in batch] == [0, 1, 2]
    # When trial 2's model is sampled, trials 0 and 1 are RUNNING and carry
    # all their parameters.
    number, name, running = [r for r in sampler.running_seen if r[0] == 2][0]
    assert name == "model"
    assert set(running) == {0, 1, 2}
    for earlier in (0, 1):
        assert running[earlier]
        assert space.decode(running[earlier]) == batch[earlier][1]
    assert running[2] == {}


def test_tpe_with_constant_liar_spreads_a_batch():
    # After the startup trials, a batch asked with the constant liar does
    # not repeat a categorical choice that is pending, while plain TPE
    # proposes its best choice for every trial of the batch.
    def run(constant_liar):
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(
                seed=0, n_startup_trials=6, constant_liar=constant_liar
            ),
        )
        space = _OptunaSpace([_Model("m", Ridge(), {"alpha": [0.1, 0.3, 1, 3, 10]})], False)
        for _ in range(8):
            [(trial, (_, params))] = _ask(study, space, 1)
            study.tell(trial, -abs(math.log10(params["alpha"])))  # best: alpha=1
        batch = _ask(study, space, 4)
        return [params["alpha"] for _, (_, params) in batch]

    spread, greedy = run(True), run(False)
    assert len(set(spread)) > len(set(greedy))


def test_ask_never_repeats_a_candidate_until_the_space_is_exhausted():
    # One model, a 5-point grid: TPE proposes its best point again and
    # again; _ask with the evaluated candidates asks the slot again instead.
    space = _OptunaSpace([_Model("m", Ridge(), {"alpha": [0.1, 0.3, 1, 3, 10]})], False)

    def run(evaluated):
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=2),
        )
        alphas = []
        for _ in range(5):
            [(trial, (_, params))] = _ask(study, space, 1, evaluated)
            study.tell(trial, -abs(math.log10(params["alpha"])))  # best: alpha=1
            alphas.append(params["alpha"])
        return study, alphas

    _, greedy = run(None)
    assert len(set(greedy)) < 5  # what plain TPE does
    evaluated = {}
    study, alphas = run(evaluated)
    assert sorted(alphas) == [0.1, 0.3, 1, 3, 10]
    state = optuna.trial.TrialState
    evaluated_trials = [t for t in study.trials if t.state == state.COMPLETE]
    assert [t.params["alpha"] for t in evaluated_trials] == alphas
    assert set(evaluated.values()) == {t.number for t in evaluated_trials}
    duplicates = [t for t in study.trials if t.state == state.FAIL]
    assert duplicates  # the redrawn ones: failed, naming the trial they repeat
    by_number = {t.number: t for t in study.trials}
    for trial in duplicates:
        assert by_number[trial.user_attrs[_DUPLICATE_ATTR]].params == trial.params
    # Exhausted: after _MAX_REDRAWS duplicates in a row, one is evaluated.
    n_before = len(study.trials)
    [(trial, (_, params))] = _ask(study, space, 1, evaluated)
    assert len(study.trials) == n_before + _MAX_REDRAWS + 1
    assert params["alpha"] in alphas and _DUPLICATE_ATTR not in trial.user_attrs
    assert study.trials[-1].number == trial.number and study.trials[-1].state == state.RUNNING


def test_ask_keeps_a_batchs_trials_apart():
    # Within one batch too: 4 trials on a 4-point grid, all different, even
    # with a sampler that ignores running trials.
    space = _OptunaSpace([_Model("m", Ridge(), {"alpha": [0.1, 1, 10, 100]})], False)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    batch = _ask(study, space, 4, {})
    assert sorted(params["alpha"] for _, (_, params) in batch) == [0.1, 1, 10, 100]


def _study_with_history(pruner):
    """A study with 4 complete trials whose 5 fold scores are known."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for value in (0.5, 0.6, 0.7, 0.8):
        trial = study.ask()
        for step in range(5):
            trial.report(value, step)
        study.tell(trial, value)
    return study


@pytest.mark.parametrize(
    "make_pruner",
    [
        lambda: optuna.pruners.MedianPruner(n_startup_trials=1),
        lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    ],
)
def test_fold_reports_do_not_depend_on_arrival_order(make_pruner):
    # Four trials of one batch, 5 folds: good, bad, middling, bad.
    scores = {
        0: [0.9, 0.85, 0.9, 0.88, 0.9],
        1: [0.1, 0.2, 0.1, 0.15, 0.1],
        2: [0.65, 0.66, 0.9, 0.2, 0.7],
        3: [0.2, 0.9, 0.9, 0.9, 0.9],
    }
    arrivals = [(p, f) for p in scores for f in range(5)]
    orders = [
        arrivals,
        arrivals[::-1],
        sorted(arrivals, key=lambda pf: (pf[1], -pf[0])),
        list(np.random.RandomState(0).permutation(len(arrivals))),
    ]
    outcomes = []
    for order in orders:
        if isinstance(order[0], (int, np.integer)):
            order = [arrivals[i] for i in order]
        study = _study_with_history(make_pruner())
        trials = [study.ask() for _ in scores]
        reports = _FoldReports(trials, 5, prune=True)
        cancelled = []
        for position, fold in order:
            if position in reports.pruned_at and fold > reports.pruned_at[position]:
                continue  # a cancelled fold never comes back
            cancelled += reports.add(position, fold, scores[position][fold])
        assert sorted(cancelled) == sorted(reports.pruned_at)
        _tell(study, trials, [np.mean(scores[p]) for p in scores], reports.pruned_at)
        outcomes.append(
            [(t.state, t.intermediate_values, t.value) for t in study.trials[4:]]
        )
    assert all(outcome == outcomes[0] for outcome in outcomes)
    states = [state for state, _, _ in outcomes[0]]
    assert states[0] == optuna.trial.TrialState.COMPLETE
    assert optuna.trial.TrialState.PRUNED in states
    for state, intermediate, value in outcomes[0]:
        if state == optuna.trial.TrialState.PRUNED:
            # Nothing reported after the fold it was pruned at; its value is
            # the last fold reported.
            last = max(intermediate)
            assert sorted(intermediate) == list(range(last + 1))
            assert value == intermediate[last]


def test_fold_reports_without_pruning_report_every_fold_and_prune_nothing():
    study = _study_with_history(optuna.pruners.MedianPruner(n_startup_trials=1))
    trials = [study.ask() for _ in range(2)]
    reports = _FoldReports(trials, 3, prune=False)
    for position, fold in itertools.product((1, 0), (2, 1, 0)):
        assert reports.add(position, fold, 0.0 + position) == []
    assert [t.intermediate_values for t in study.trials[4:]] == [
        {0: 0.0, 1: 0.0, 2: 0.0}, {0: 1.0, 1: 1.0, 2: 1.0}
    ]
    assert all(reports.kept(p, f) for p in (0, 1) for f in range(3))


def test_tell_states():
    study = optuna.create_study(direction="maximize")
    trials = [study.ask() for _ in range(3)]
    trials[1].report(0.25, 0)
    _tell(study, trials, [0.5, 0.4, float("nan")], {1: 0})
    state = optuna.trial.TrialState
    assert [(t.state, t.value) for t in study.trials] == [
        (state.COMPLETE, 0.5),
        (state.PRUNED, 0.25),
        (state.FAIL, None),
    ]
