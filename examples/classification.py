"""A classification tournament: ``distsearch tournament examples/classification.py``.

See ``regression.py`` for every setting; only what differs is explained here.
"""

from scipy.stats import loguniform, randint
from sklearn.linear_model import LogisticRegression

from distsearch.models import KerasClassifier, LightGBMClassifier

# make_classification arguments (all its keywords but random_state, which
# comes from --seed). "mock_multilabel" takes make_multilabel_classification
# arguments the same way.
data = {
    "kind": "mock_classification",
    "n_samples": 2000,
    "n_features": 20,
    "n_informative": 8,
    "n_classes": 3,
    "class_sep": 0.8,
}
# A CSV file with a class column: non-float targets are class labels.
# data = {"kind": "file", "path": "churn.csv", "target": "churned"}

# Folds are stratified by class, and so is the held-out split and the
# helpers' inner early-stopping split.
contenders = [
    (
        "lightgbm",
        LightGBMClassifier(n_estimators=3000, early_stopping_rounds=10, random_state=0),
        {"learning_rate": loguniform(1e-2, 1e-1), "num_leaves": randint(4, 32)},
    ),
    (
        "keras",
        KerasClassifier(learning_rate=0.01, epochs=200, patience=10, random_state=0),
        {"hidden_layer_sizes": [(15,), (15, 15), (64,)], "dropout": [0.0, 0.2]},
    ),
    ("logistic", LogisticRegression(max_iter=1000), {"C": [0.01, 0.1, 1.0, 10.0]}),
]
n_iter = {"lightgbm": 5, "keras": 4}
n_splits = 5
test_size = 0.2

# Several metrics; the winner is picked by log loss (negated: higher is
# better). roc_auc_ovr is the one-vs-rest ROC AUC of a multiclass target.
scoring = ["neg_log_loss", "roc_auc_ovr", "accuracy"]
rank_by = "neg_log_loss"

# Soft voting (averaged probabilities) when every member has predict_proba.
ensemble = {"method": "voting", "top_k": 3}
