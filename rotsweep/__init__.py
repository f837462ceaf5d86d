"""rotsweep: sweeps over the rotation used in self-supervised pre-training.

This package is the ground every other one stands on: the result-table contract
(:mod:`rotsweep.schema`), Parquet part IO (:mod:`rotsweep.tables`) and byte storage
(:mod:`rotsweep.storage`), none of which imports torch or Ray. ``trainables`` writes through
it and ``analysis`` reads through it, so neither imports the other.
"""

from __future__ import annotations

__version__ = "0.2.0"
