"""
Search spaces and distributions
===============================

A search space maps parameter names to lists, scipy.stats distributions, or skhpo's
``Real``, ``Integer`` and ``Categorical``. This example builds one, samples it, shows
the log scale at work and the unit-cube encoding that every sampler shares.
"""

# %%
# Build a space from any mix of scikit-learn's conventions.
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import randint, uniform

from skhpo.space import Categorical, Real, SearchSpace

space = SearchSpace(
    {
        "learning_rate": Real(1e-4, 1e-1, log=True),
        "subsample": uniform(0.5, 0.5),  # becomes Real(0.5, 1.0)
        "max_depth": randint(2, 9),  # becomes Integer(2, 8)
        "loss": Categorical(["log_loss", "exponential"]),
    }
)
print(space)

# %%
# Sampling: a log scale gives every decade the same share of draws.
points = space.sample(2000, random_state=0)
lr = np.array([p["learning_rate"] for p in points])
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(np.log10(lr), bins=30)
ax.set_xlabel("log10(learning_rate)")
ax.set_ylabel("draws")
ax.set_title("Real(1e-4, 1e-1, log=True)")
fig.tight_layout()

# %%
# The unit-cube encoding: one column per dimension, values in [0, 1], and decoding
# gives the parameters back.
u = space.encode(points[:3])
print(u.round(3))
print(space.decode(u))

# %%
# A list of dicts is a set of disjoint sub-spaces: no point mixes them.
svc_space = SearchSpace(
    [
        {"kernel": ["linear"], "C": Real(1e-2, 1e2, log=True)},
        {
            "kernel": ["rbf"],
            "C": Real(1e-2, 1e2, log=True),
            "gamma": Real(1e-4, 1e0, log=True),
        },
    ]
)
for p in svc_space.sample(4, random_state=1):
    print(p)
