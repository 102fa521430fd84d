"""
Property-based testing of an estimator over its search space
============================================================

Before tuning a model on a space, check that it works everywhere in that space.
``skhpo.testing.params`` is a hypothesis strategy that draws valid parameter dicts
from a search space; hypothesis then looks for a setting that breaks a property and
shrinks it to the simplest one.
"""

# %%
from hypothesis import given, settings
from sklearn.datasets import load_wine
from sklearn.ensemble import HistGradientBoostingClassifier

from skhpo.space import Categorical, Integer, Real
from skhpo.testing import params

X, y = load_wine(return_X_y=True)
space = {
    "learning_rate": Real(1e-3, 1.0, log=True),
    "max_depth": Categorical([None, 2, 4, 8]),
    "max_leaf_nodes": Integer(2, 64, log=True),
    "l2_regularization": Real(0.0, 10.0),
}

checked = []


@settings(max_examples=15, deadline=None)
@given(params(space))
def test_fits_and_predicts_everywhere(p):
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    model.set_params(**p).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(y), 3)
    assert abs(proba.sum(axis=1) - 1).max() < 1e-9
    checked.append(p)


test_fits_and_predicts_everywhere()
print(f"the property held for {len(checked)} drawn settings, e.g. {checked[-1]}")
