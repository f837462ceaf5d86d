"""rotsweep: sweeps over the rotation used in self-supervised pre-training.

This package is the ground every other one stands on: the result-table contract
(:mod:`rotsweep.schema`), Parquet part IO (:mod:`rotsweep.tables`) and byte storage
(:mod:`rotsweep.storage`), none of which imports torch or Ray. ``trainables`` writes through
it and ``analysis`` reads through it, so neither imports the other.

For notebooks: ``rotsweep.open_study(folder)`` opens a study folder (tables as DataFrames,
trial configs, the report's figures as functions; see docs/notebook.md). It is imported on
first use only.
"""

from __future__ import annotations

__version__ = "0.2.0"

__all__ = ["Study", "__version__", "open_study"]


def __getattr__(name: str) -> object:
    # The notebook API (analysis/notebook.py: pandas, matplotlib) is imported on first use, so
    # `import rotsweep` stays light for the trainers and the driver.
    if name in ("open_study", "Study"):
        from analysis import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'rotsweep' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "Study", "open_study"])
