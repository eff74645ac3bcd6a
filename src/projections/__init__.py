"""Read side: folds, stores, the runner and queries."""

# The fold base classes first: projection modules (intervals) subclass them and
# folds.ALL_PROJECTIONS lists them, whichever module is imported first.
from projections import folds as _folds  # noqa: F401
