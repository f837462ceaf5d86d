"""The metric vocabulary of a trial: what it reports per epoch and at its end.

The same names are ``tune.report`` keys, MLflow metric names and (per epoch) ``pretext`` table
columns. A study may only search, early-stop or display metrics named here, and this is
checked when the study file is validated, before Ray starts: a scheduler on a metric that is
never reported per epoch would silently never stop anything (Tune's ASHA continues every trial
whose result lacks the metric), and Optuna told about a metric that never arrives marks every
trial pruned.
"""

from __future__ import annotations

#: Reported after every pre-training epoch (with ``epoch``, the scheduler's time axis): the
#: fields of ``trainables.train.EpochMetrics`` (written out, so that the driver's MLflow code
#: imports no torch; tests/study/test_search.py holds the two equal).
EPOCH_METRICS: tuple[str, ...] = ("loss", "pretext_accuracy", "lr")

#: Per-epoch metrics that measure progress, so early stopping may compare trials on them.
SCHEDULER_METRICS: tuple[str, ...] = ("loss", "pretext_accuracy")

#: Reported once, in a trial's final result (``trainables.trial.summarize``): means over the
#: evaluation images and angles, and the last epoch's pre-training loss and accuracy.
FINAL_METRICS: tuple[str, ...] = (
    "dice_mean", "soft_dice_mean", "auc_mean", "mass_in_mask_mean", "iou_mean",
    "final_loss", "final_pretext_accuracy",
)

#: With ``saliency.random_init_baseline``, each final saliency metric again for the random-init
#: copy of the network (seed 002's baseline), under this prefix.
BASELINE_PREFIX = "random_baseline_"


def final_metric_names(with_baseline: bool) -> list[str]:
    """The metrics a trial's final result carries (sorted), baseline copies included or not."""
    names = list(FINAL_METRICS)
    if with_baseline:
        names += [BASELINE_PREFIX + m for m in FINAL_METRICS if m.endswith("_mean")]
    return sorted(names)


def final_result_keys() -> frozenset[str]:
    """The numbers of a final result worth keeping: every final metric and the trial's time."""
    return frozenset([*final_metric_names(with_baseline=True), "wall_s"])
