"""``hog.*``: the HoG + SVM "rotated by θ or not" probe of the data (seed 000, Table I)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class HogConfig:
    """HoG descriptor and RBF-SVM settings; the result depends on the data only, so it is cached
    per (dataset, angles, these settings).

    Attributes:
        enabled: compute the table at all.
        n_images: images used (each gives an unrotated and a rotated copy).
        image_size: side of the square crops the HoG is computed on, pixels.
        pixels_per_cell: HoG cell side, pixels (seed 000: 64 at 224 px).
        cells_per_block: HoG block side, cells.
        orientations: HoG orientation bins.
        cv_folds: grouped folds (an image's two copies share a fold).
        c_grid: SVC ``C`` values searched by GridSearchCV.
        gamma_grid: SVC ``gamma`` values searched (``scale`` is sklearn's default rule).
        nested: an outer grouped CV around the search, for an unbiased accuracy.
        n_jobs: worker processes over angles.
    """

    enabled: bool = True
    n_images: int = field(default=48, metadata={"ge": 4})
    image_size: int = field(default=64, metadata={"ge": 16})
    pixels_per_cell: int = field(default=16, metadata={"ge": 2})
    cells_per_block: int = field(default=2, metadata={"ge": 1})
    orientations: int = field(default=9, metadata={"ge": 2})
    cv_folds: int = field(default=4, metadata={"ge": 2})
    c_grid: tuple[float, ...] = field(default=(1.0, 10.0), metadata={"gt": 0.0})
    gamma_grid: tuple[float, ...] = field(default=(0.001, 0.01), metadata={"gt": 0.0})
    nested: bool = False
    n_jobs: int = field(default=1, metadata={"ge": 1})
