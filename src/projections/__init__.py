"""Read side: folds, stores, the runner and queries. ``folds`` is imported
first, whichever submodule is asked for: the projections in their own modules
(``intervals``, ``sla``, ``metrics``) subclass its base class and it lists them
in ``ALL_PROJECTIONS``."""

from projections import folds as _folds  # noqa: F401
