"""The seeds' protocols, transcribed: one row per value a paper states (or a rule this project
keeps for every re-run of it), with the paper's words beside it.

``tests/study/test_protocols.py`` compares each row with the resolved trials of the shipped study
that re-runs the paper; a study may depart from a row only by naming the key under
``protocol.deviations`` with its reason.

Kinds of row:
    ``equal``    every trial of the study has ``value`` at ``key``;
    ``includes`` the values the grid gives ``key`` include every one of ``value``;
    ``each``     every trial has a one-element angle set at ``key`` (one train angle θ per trial).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

EVERY_DEGREE = tuple(float(a) for a in range(360))


@dataclass(frozen=True)
class Row:
    key: str
    value: Any
    words: str
    kind: Literal["equal", "includes", "each"] = "equal"


# Seed 000 (Saranchuk & Guerzhoy 2024), and the rules every re-run of it keeps (issue 11).
SEED_000: tuple[Row, ...] = (
    Row("model.backbone", "resnet50", "an ImageNet-pre-trained MoCo v2 model with a ResNet-50 "
        "backbone was used"),
    Row("model.init", "moco_v2", "an ImageNet-pre-trained MoCo v2 model"),
    Row("pretext.name", "moco_rotation", "pairs (original, rotated) of images where the rotated "
        "image was rotated by angle θ"),
    Row("pretext.params.angles", None, "For each rotation angle θ used in generating the image "
        "pairs for contrastive pre-training", kind="each"),
    Row("pretext.augment", "paper", "resizing, Gaussian blurring, horizontal and vertical flips, "
        "rotation, and affine translation"),
    Row("pretext.crop", "disk", "We crop the outer border of the image"),
    Row("train.epochs", 100, "Finetuning was performed for 100 epochs"),
    Row("train.batch_size", 16, "with a batch size of 16"),
    Row("train.optimizer", "sgd", "The optimizer used was stochastic gradient descent"),
    Row("train.lr", 0.01, "with a learning rate of 0.01"),
    Row("train.momentum", 0.9, "momentum of 0.9"),
    Row("train.weight_decay", 1e-4, "and weight decay of 1 × 10^-4"),
    Row("train.schedule", "none", "(no learning-rate schedule is mentioned)"),
    Row("data.name", ("brats", "lung_mask", "kvasir_seg"), "BraTS ... Lung Mask Image Dataset "
        "... Kvasir-SEG", kind="includes"),
    Row("data.n_eval", 75, "75 images were selected from each dataset"),
    Row("saliency.method", "smoothgrad", "saliency maps were generated using the SmoothGrad "
        "method"),
    Row("saliency.eval_angles", EVERY_DEGREE, "rotated through a full 360-degree range, with "
        "saliency maps generated at every single degree increment"),
    Row("hog.pixels_per_cell", 64, "We compute and concatenate HoG descriptors for every "
        "64 × 64 cell"),
    Row("hog.nested", True, "We use cross-validation to select the best parameters for a "
        "Gaussian-kernel SVM (rule: the selected SVM's accuracy is measured by an outer CV, so "
        "chance angles are not inflated)"),
    Row("saliency.random_init_baseline", True, "(rule, issue 11: an untrained network already "
        "gives an angle pattern; every curve is shown beside it)"),
)

# Seed 002 (Selvaraj): rotation prediction, saliency of the rotation layer, Q(S, B).
SEED_002: tuple[Row, ...] = (
    Row("pretext.name", "rotnet", "Train a supervised deep ConvNet on D'"),
    Row("pretext.params.angles", (0.0, 90.0, 180.0, 270.0), "rotating every image by 0, 90, "
        "180, and 270"),
    Row("model.backbone", ("six_layer", "mobilenet_v2", "efficientnet_b0"), "Efficient net ... "
        "MobileNet ... Six-layer network", kind="includes"),
    Row("model.input_norm", "imagenet", "The datasets were normalized with the ImageNet mean "
        "and standard deviation"),
    Row("data.image_size", 128, "All the images were resized to 128 by 128 using bilinear "
        "interpolation"),
    Row("train.optimizer", "rmsprop", "RMS prop optimizer"),
    Row("train.lr", 1e-4, "Learning rate = 1e-4"),
    Row("train.momentum", 0.5, "Momentum = 0.5"),
    Row("saliency.method", "gradient", "S = ∇f(x)"),
    Row("saliency.target", "rotation_max", "S = max(s_1, ..., s_n) ... for both the rotation "
        "prediction layers and embedding layers"),
    Row("saliency.normalize", "none", "an activation only if the activation value is greater "
        "than the threshold (the raw map is thresholded)"),
    Row("saliency.threshold_rule", "fixed", "f(X, λ) = 0 if X_i < λ, 1 otherwise"),
    Row("saliency.threshold", (8e-4, 8e-3), "Efficient net (8e-3) | Mobile Net (8e-3) | "
        "Six-layer Net (8e-4)", kind="includes"),
    Row("saliency.random_init_baseline", True, "Compute saliency map of the rotation layer of a "
        "random (untrained) network for baseline"),
)

# Seed 003 (Gidaris et al. 2018, RotNet), CIFAR experiments.
SEED_003: tuple[Row, ...] = (
    Row("model.backbone", "nin", "RotNet models implemented with Network-In-Network (NIN) "
        "architectures"),
    Row("model.params.blocks", (3, 4, 5), "Three RotNet models which have 3, 4, and 5 "
        "convolutional blocks", kind="includes"),
    Row("pretext.name", "rotnet", "recognize the 2D image rotations"),
    Row("pretext.params.angles", ((0.0, 90.0, 180.0, 270.0),
                                  tuple(float(a) for a in range(0, 360, 45)),
                                  (0.0, 180.0), (90.0, 270.0)),
        "4 = 0/90/180/270, 8 = every 45°, 2 = 0/180, 2 = 90/270", kind="includes"),
    Row("pretext.params.all_rotations_in_batch", True, "feeding it all the four rotated copies "
        "of an image simultaneously"),
    Row("train.optimizer", "sgd", "Used SGD"),
    Row("train.batch_size", 128, "with batch size 128"),
    Row("train.momentum", 0.9, "momentum 0.9"),
    Row("train.weight_decay", 5e-4, "weight decay 5e-4"),
    Row("train.lr", 0.1, "and learning rate of 0.1"),
    Row("train.epochs", 100, "Model trained for 100 epochs"),
    Row("train.schedule", "step", "learning rate dropped by a factor of 5"),
    Row("train.milestones", (30, 60, 80), "after 30, 60 and 80 epochs"),
    Row("train.gamma", 0.2, "dropped by a factor of 5"),
    Row("data.image_size", 32, "CIFAR Experiments (32 × 32 images)"),
    Row("pretext.crop", "none", "(the paper rotates whole CIFAR images)"),
    Row("probe.probes", ("mlp",), "a non-linear classifier was trained with 3 fully connected "
        "layers on top of the feature maps"),
    Row("probe.baselines", ("random",), "Random Init. (the same classifier on a randomly "
        "initialised network)"),
    Row("probe.downstream", ("cifar10",), "classification accuracy on CIFAR-10"),
)

PROTOCOLS: dict[str, tuple[str, tuple[Row, ...]]] = {
    "saranchuk2024": ("Saranchuk & Guerzhoy 2024", SEED_000),
    "real_samples": ("Saranchuk & Guerzhoy 2024", SEED_000),
    "selvaraj": ("Selvaraj", SEED_002),
    "gidaris2018": ("Gidaris et al. 2018", SEED_003),
}
