"""The fold tests' fixtures: a fresh ``Story`` and a roster of three engineers in it
(``fold_harness``). A module may define its own ``story``."""

from __future__ import annotations

import pytest

from fold_harness import Story
from ledger.domain import Engineer


@pytest.fixture
def story() -> Story:
    return Story()


@pytest.fixture
def roster(story: Story) -> dict[str, Engineer]:
    return {
        "ana": story.engineer("ana", name="Ana Silva", skills=["fibre"], tier=1, capacity=3,
                              availability=0.9),
        "ben": story.engineer("ben", name="Ben Okoro", skills=["fibre", "pon"], tier=2,
                              capacity=2, availability=0.5),
        "cy": story.engineer("cy", name="Cy Tan", skills=["core"], tier=3, capacity=1,
                             availability=1.0),
    }
