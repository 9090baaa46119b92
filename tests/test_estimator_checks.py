"""scikit-learn's estimator checks on MultiModelSearchCV.

The drop-in instances are those scikit-learn checks GridSearchCV with
(``sklearn/utils/_test_common/instance_generator.py``: Ridge,
LogisticRegression, and both behind a PCA in a Pipeline, ``cv=2``,
``error_score='raise'``), less the PCA + Ridge pipeline, which adds run time
and no code path the other three do not take.
scikit-learn expects GridSearchCV to fail ``check_supervised_y_2d`` (its
tags do not pass on the estimator's ``multi_output``) and
``check_requires_y_none``; MultiModelSearchCV passes both, so no check is
expected to fail. The multi-model instances run the same checks with two
models of the same kind, none of which accepts NaN (the checks expect a
search whose tags do not allow NaN to reject it in ``predict``, whichever
model wins).
"""

from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from distsearch import MultiModelSearchCV


def _drop_in(estimator, grid):
    return MultiModelSearchCV(estimator, grid, cv=2, error_score="raise")


INSTANCES = [
    _drop_in(Ridge(), {"alpha": [0.1, 1.0]}),
    _drop_in(LogisticRegression(), {"C": [0.1, 1.0]}),
    _drop_in(
        Pipeline([("pca", PCA()), ("logisticregression", LogisticRegression())]),
        {"logisticregression__C": [0.1, 1.0]},
    ),
    MultiModelSearchCV(
        [
            ("ridge", Ridge(), {"alpha": [0.1, 1.0]}),
            ("knn", KNeighborsRegressor(), {"n_neighbors": [3, 5]}),
        ],
        cv=2,
        error_score="raise",
    ),
    MultiModelSearchCV(
        [
            ("logistic", LogisticRegression(), {"C": [0.1, 1.0]}),
            ("knn", KNeighborsClassifier(), {"n_neighbors": [3, 5]}),
        ],
        cv=2,
        error_score="raise",
    ),
]


@parametrize_with_checks(INSTANCES)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
