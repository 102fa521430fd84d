"""The encoded space as the samplers see it.

:class:`Layout` wraps a :class:`~skhpo.space.SearchSpace` and offers the vectorized
operations every sampler needs on encoded points (rows of ``space.encode``):
column kinds, snapping to valid values, uniform sampling, local perturbations,
hashable keys for de-duplication, the encoded grid of a finite space and the bin
edges of integer values. Everything stays in the index encoding (one column per
dimension, NaN in the columns of the sub-spaces a point does not belong to).
"""

import itertools
import math

import numpy as np

from ..space import Distribution, Integer, SearchSpace

__all__ = ["REAL", "INTEGER", "CATEGORICAL", "Layout"]

REAL, INTEGER, CATEGORICAL = 0, 1, 2
_KINDS = {"real": REAL, "integer": INTEGER, "categorical": CATEGORICAL}

# Largest finite space whose whole encoded grid is materialized.
GRID_LIMIT = 20_000


class Layout:
    """Vectorized helpers over the index encoding of a search space.

    Parameters
    ----------
    space : SearchSpace or anything SearchSpace accepts
    """

    def __init__(self, space):
        space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self.space = space
        self.columns = space.columns()
        self.n_columns = len(self.columns)
        self.n_subspaces = len(space.subspaces)
        self.conditional = space.is_conditional
        self.kinds = np.array([_KINDS[c.dimension.kind] for c in self.columns], int)
        self.n_values = np.array(
            [
                c.dimension.n_values if c.dimension.kind == "categorical" else 0
                for c in self.columns
            ],
            dtype=int,
        )
        self.subspace = np.array(
            [-1 if c.subspace is None else c.subspace for c in self.columns], int
        )
        # Columns of each sub-space, selector excluded.
        self.subspace_columns = [
            np.flatnonzero(self.subspace == s) for s in range(self.n_subspaces)
        ]
        self._grid = None

    # -- rows and sub-spaces ----------------------------------------------------

    def subspace_index(self, U):
        """Sub-space of each row of ``U``."""
        U = np.atleast_2d(U)
        if not self.conditional:
            return np.zeros(len(U), dtype=int)
        k = self.n_subspaces
        return np.minimum((U[:, 0] * k).astype(int), k - 1)

    def snap(self, U):
        """Move encoded points onto valid values: clip to ``[0, 1]``, round
        integers and categories to the centre of their bin. NaN stays NaN."""
        U = np.clip(np.array(U, dtype=float, ndmin=2), 0.0, 1.0)
        for j in np.flatnonzero(self.kinds != REAL):
            col = U[:, j]
            ok = ~np.isnan(col)
            if not ok.any():
                continue
            if self.kinds[j] == CATEGORICAL:
                k = self.n_values[j]
                col[ok] = (np.minimum(np.floor(col[ok] * k), k - 1) + 0.5) / k
            else:
                dim = self.columns[j].dimension
                col[ok] = dim.encode(dim.decode(col[ok]))
        return U

    def sample(self, n, rng):
        """``n`` points drawn uniformly in the encoded space (each dimension's own
        distribution), the sub-space picked uniformly at random."""
        U = rng.uniform(size=(n, self.n_columns))
        if self.conditional:
            k = self.n_subspaces
            s = rng.randint(k, size=n)
            U[:, 0] = (s + 0.5) / k
            for t, cols in enumerate(self.subspace_columns):
                U[np.ix_(s != t, cols)] = np.nan
        return self.snap(U)

    def latin_hypercube(self, n, rng):
        """``n`` points of a Latin hypercube in the encoded space.

        Every numeric column is cut into ``n`` equal strata, each holding one
        point, so that each dimension is covered evenly (integers as evenly as
        their bins allow); every choice of a categorical column is used
        ``n // n_choices`` or one more times. In a conditional space the
        sub-spaces are balanced the same way, then each sub-space's columns are
        stratified over its own points.
        """

        def design(m, cols):
            X = np.empty((m, len(cols)))
            for i, j in enumerate(cols):
                if self.kinds[j] == CATEGORICAL:
                    k = self.n_values[j]
                    X[:, i] = rng.permutation(np.resize(rng.permutation(k), m))
                    X[:, i] = (X[:, i] + 0.5) / k
                else:
                    X[:, i] = (rng.permutation(m) + rng.uniform(size=m)) / m
            return X

        U = np.full((n, self.n_columns), np.nan)
        if not self.conditional:
            U[:] = design(n, np.arange(self.n_columns))
            return self.snap(U)
        U[:, :1] = design(n, [0])
        sub = self.subspace_index(U)
        for s, cols in enumerate(self.subspace_columns):
            rows = np.flatnonzero(sub == s)
            if len(rows) and len(cols):
                U[np.ix_(rows, cols)] = design(len(rows), cols)
        return self.snap(U)

    def perturb(self, U, rng, scale):
        """Random neighbours of the rows of ``U`` in their own sub-space.

        About two coordinates per row move: real and integer ones by a Gaussian
        step of standard deviation ``scale`` (at least half a bin for integers),
        categorical ones to a random choice. The sub-space never changes.
        """
        V = np.array(U, dtype=float, ndmin=2)
        movable = ~np.isnan(V) & (self.subspace >= 0)
        n_active = np.maximum(movable.sum(axis=1, keepdims=True), 1)
        move = movable & (rng.uniform(size=V.shape) < np.minimum(1.0, 2.0 / n_active))
        numeric = self.kinds != CATEGORICAL
        if numeric.any():
            steps = np.full(self.n_columns, float(scale))
            for j in np.flatnonzero(self.kinds == INTEGER):
                dim = self.columns[j].dimension
                if isinstance(dim, Integer):
                    steps[j] = max(scale, 0.5 / dim.n_values)
            noise = rng.normal(size=V.shape) * steps
            m = move & numeric
            V[m] += noise[m]
        for j in np.flatnonzero((self.kinds == CATEGORICAL) & (self.subspace >= 0)):
            rows = np.flatnonzero(move[:, j])
            k = self.n_values[j]
            V[rows, j] = (rng.randint(k, size=len(rows)) + 0.5) / k
        return self.snap(V)

    # -- identity ----------------------------------------------------------------

    @staticmethod
    def keys(U):
        """Hashable key of each row; equal points (up to 1e-9) have equal keys."""
        V = np.round(np.where(np.isnan(U), -1.0, np.atleast_2d(U)), 9) + 0.0
        return [row.tobytes() for row in V]

    # -- finite spaces -------------------------------------------------------------

    def grid(self):
        """The encoded points of a finite space (None if it is not small and finite).

        Returns
        -------
        tuple (U, keys) or None
        """
        space = self.space
        if not space.is_finite or space.n_grid_points > GRID_LIMIT:
            return None
        if self._grid is None:
            blocks = []
            for s, cols in enumerate(self.subspace_columns):
                values = []
                for j in cols:
                    dim = self.columns[j].dimension
                    if self.kinds[j] == CATEGORICAL:
                        k = dim.n_values
                        values.append((np.arange(k) + 0.5) / k)
                    else:
                        values.append(
                            np.array([dim.encode(v) for v in dim.values()], float)
                        )
                points = np.array(list(itertools.product(*values)), dtype=float)
                block = np.full((len(points), self.n_columns), np.nan)
                block[:, cols] = points.reshape(len(points), len(cols))
                if self.conditional:
                    block[:, 0] = (s + 0.5) / self.n_subspaces
                blocks.append(block)
            U = np.vstack(blocks)
            self._grid = (U, self.keys(U))
        return self._grid

    # -- integer bins ----------------------------------------------------------------

    def bin_edges(self, j, u):
        """Encoded interval that the integer value at encoded ``u`` owns in column
        ``j`` (``u`` itself, twice, for other columns)."""
        dim = self.columns[j].dimension
        u = np.asarray(u, dtype=float)
        if isinstance(dim, Integer):
            v = dim.decode(u).astype(float)
            return dim.encode(v - 0.5), dim.encode(v + 0.5)
        if isinstance(dim, Distribution) and dim.discrete:
            v = dim.decode(u).astype(float)
            return dim.dist.cdf(v - 1), dim.dist.cdf(v)
        return u, u


def default_n_initial_points(layout, surrogate="gp"):
    """Random points before the model takes over, at most half of a finite grid.

    TPE: 10, optuna's ``n_startup_trials`` (its good group is then one point,
    and the prior kernel keeps it exploring). Model surrogates (GP, forest):
    ``2 * n_columns`` within ``[10, 20]``, about two points per length scale.
    """
    if surrogate == "tpe":
        n = 10
    else:
        n = min(max(10, 2 * layout.n_columns), 20)
    grid = layout.space.n_grid_points
    if math.isfinite(grid):
        n = min(n, max(1, int(grid) // 2))
    return n
