"""Result tables with known structure, built in the tests (the analysis has no other input)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from result_tables import Curve, flat, four_fold, saliency_frame


@pytest.fixture
def make_saliency() -> Callable[..., pd.DataFrame]:
    """The :func:`saliency_frame` builder."""
    return saliency_frame


@pytest.fixture
def curves() -> dict[str, Callable[..., Curve]]:
    """Curve builders: ``four_fold``, ``flat``."""
    return {"four_fold": four_fold, "flat": flat}
