"""``model.init``: loading local weight files into a backbone (never downloading).

- ``torchvision``: a state dict of the torchvision architecture (``torch.save(net.state_dict())``,
  optionally wrapped as ``{"state_dict": ...}`` or ``{"model": ...}``, optionally with
  DataParallel's ``module.`` prefix).
- ``moco_v2``: a facebookresearch/moco checkpoint (``moco_v2_800ep_pretrain.pth.tar``):
  ``{"state_dict": {"module.encoder_q.<torchvision key>": ...}, ...}`` (also without ``module.``).
  Only the query encoder is read; its MLP head (``fc.*``), the key encoder and the queue are
  not: MoCo pre-training starts its key encoder from the query encoder and a fresh queue.

Files are read with ``torch.load(weights_only=True)``. Classifier heads (``fc``, ``classifier``,
``heads``) are dropped; backbone tensors the file lacks (``missing``) and file tensors the
backbone does not use (``unexpected``) are reported; a shape mismatch, a file with no usable
tensor, or a file of the wrong kind is an error naming the file.
"""

from __future__ import annotations

import io
import logging
import pickletools
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from rotsweep.storage import read_bytes
from trainables.models.base import Backbone

log = logging.getLogger(__name__)

HEAD_PREFIXES = ("fc.", "classifier.", "heads.")
MOCO_PREFIXES = ("module.encoder_q.", "encoder_q.")


@dataclass(frozen=True)
class LoadReport:
    """What a weight file gave a backbone.

    Attributes:
        path: the file.
        loaded: backbone tensors set from the file.
        missing: backbone state-dict keys the file has no tensor for (left at random init).
        unexpected: file keys (in the architecture's naming) the backbone does not use.
        dropped: classifier-head keys deliberately not loaded.
    """

    path: str
    loaded: int
    missing: tuple[str, ...] = field(default=())
    unexpected: tuple[str, ...] = field(default=())
    dropped: tuple[str, ...] = field(default=())


def read_checkpoint(path: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; errors name the file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a torch file, or one that needs arbitrary unpickling.
    """
    try:
        data = read_bytes(path)
    except (FileNotFoundError, OSError) as err:
        raise FileNotFoundError(f"model.weights: cannot read {path!r} ({err})") from None
    return load_tensors(data, path, "model.weights")


def load_tensors(data: bytes, path: str, what: str) -> Any:
    """``torch.load(weights_only=True)`` of a file's bytes: tensors and plain data only.

    The one wrapper every torch file rotsweep reads goes through (``model.weights``, a trial's
    state file in trainables/tune.py, a cached checkpoint): a refusal names ``what``, the file
    and the global a crafted file names, never torch's advice to turn the check off.

    Raises:
        ValueError: not a torch file, or one that needs arbitrary unpickling.
    """
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(f"{what}: {path!r} is not a torch checkpoint readable with "
                         f"weights_only=True ({load_refusal(err, data)})") from None


# torch names the global in its own words, which change between releases (2.6: "Unsupported
# global: GLOBAL m.f was not an allowed global"; 2.14 also: "unsupported GLOBAL posix.system
# whose module posix is blocked"): any "GLOBAL <dotted name>", in any case
_GLOBAL = re.compile(r"\bGLOBAL\s+([A-Za-z_][\w.]*)", re.IGNORECASE)
# what a refusal never repeats: torch's advice to load with the check off
_ADVICE = re.compile(r"weights_only|re-?running|trust|add_safe_globals|safe_globals",
                     re.IGNORECASE)
# modules a plain state dict's pickle names (not the refused global)
_PLAIN = ("torch", "collections", "_codecs", "builtins", "numpy")


def load_refusal(err: Exception, data: bytes | None = None) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in one line: the code global a
    crafted file names (from torch's message, else read from the file's pickle without running
    it), or the error's first line. torch's own message goes on to suggest
    ``weights_only=False``, which would run that code; no line of it that mentions the check
    or trust is ever repeated."""
    text = str(err)
    found = _GLOBAL.search(text)
    name = found[1] if found else pickled_globals(data)
    if name:
        return (f"{type(err).__name__}: it names {name}, which is not a tensor or plain "
                "data; refused, never called")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if _ADVICE.search(first):
        first = "not tensors and plain data"
    return f"{type(err).__name__}: {first[:200]}"


def pickled_globals(data: bytes | None) -> str | None:
    """The first global a torch file's pickle names outside the modules of plain state dicts
    (``_PLAIN``), read with :mod:`pickletools` (nothing is unpickled); ``None`` if none or the
    bytes are not a torch zip file or a pickle."""
    if not data:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            member = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            pickled = archive.read(member)
    except (zipfile.BadZipFile, StopIteration, OSError, KeyError):
        pickled = data
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(pickled):
            if op.name == "GLOBAL":
                name = str(arg).replace(" ", ".")
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                name = f"{strings[-2]}.{strings[-1]}"
            else:
                if isinstance(arg, str):
                    strings.append(arg)
                continue
            if not name.startswith(_PLAIN):
                return name
    except Exception:  # a truncated or foreign pickle: nothing more to name
        return None
    return None


def _tensors(obj: Any) -> dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping):
        return {}
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def torchvision_state(raw: Any, path: str) -> dict[str, torch.Tensor]:
    """The tensors of a torchvision-format file, ``module.`` stripped.

    Raises:
        ValueError: the file holds no tensors by name.
    """
    state = raw
    if isinstance(raw, Mapping):
        for wrapper in ("state_dict", "model"):
            if isinstance(raw.get(wrapper), Mapping):
                state = raw[wrapper]
                break
    tensors = _tensors(state)
    if not tensors:
        raise ValueError(f"model.weights: {path!r} is not a state dict (a mapping of names to "
                         f"tensors, optionally under 'state_dict' or 'model'); "
                         f"found {_describe(raw)}")
    return {k.removeprefix("module."): v for k, v in tensors.items()}


def moco_state(raw: Any, path: str) -> dict[str, torch.Tensor]:
    """The query encoder's tensors of a facebookresearch/moco checkpoint, in torchvision naming.

    Raises:
        ValueError: the file is not such a checkpoint.
    """
    state = raw.get("state_dict") if isinstance(raw, Mapping) else None
    tensors = _tensors(state)
    out: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        for prefix in MOCO_PREFIXES:
            if key.startswith(prefix):
                out[key.removeprefix(prefix)] = value
                break
    if not out:
        raise ValueError(
            f"model.weights: {path!r} is not a facebookresearch/moco checkpoint: expected a "
            f"dict whose 'state_dict' holds 'module.encoder_q.*' (or 'encoder_q.*') tensors; "
            f"found {_describe(raw)}")
    return out


def _describe(raw: Any) -> str:
    if isinstance(raw, Mapping):
        keys = sorted(map(str, raw))
        inner = raw.get("state_dict")
        extra = (f"; 'state_dict' keys start {sorted(map(str, inner))[:3]}"
                 if isinstance(inner, Mapping) else "")
        return f"a dict with keys {keys[:6]}{' ...' if len(keys) > 6 else ''}{extra}"
    return f"a {type(raw).__name__}"


def load_state(backbone: Backbone, source: Mapping[str, torch.Tensor], path: str,
               name: str) -> LoadReport:
    """Copy ``source`` (architecture naming) into ``backbone`` via :meth:`Backbone.source_key`.

    Raises:
        ValueError: a tensor's shape differs from the backbone's, or nothing matched.
    """
    target = backbone.state_dict()
    new: dict[str, torch.Tensor] = {}
    missing, mismatched = [], []
    for key, current in target.items():
        src = backbone.source_key(key)
        if src not in source:
            missing.append(key)
            continue
        value = backbone.adapt_source(key, source[src])
        if value.shape != current.shape:
            mismatched.append(f"{src}: file {tuple(value.shape)} vs model {tuple(current.shape)}")
        new[key] = value.to(current.dtype)
    if mismatched:
        raise ValueError(f"model.weights: {path!r} does not fit backbone {name!r}: "
                         f"{len(mismatched)} shape mismatches, e.g. {mismatched[:3]}")
    if not new:
        raise ValueError(f"model.weights: {path!r} has no tensor of backbone {name!r} (expected "
                         f"names like {backbone.source_key(next(iter(target)))!r}; the file has "
                         f"{sorted(source)[:3]})")
    backbone.load_state_dict(new, strict=False)
    used = {backbone.source_key(k) for k in new}
    dropped = tuple(sorted(k for k in source if k.startswith(HEAD_PREFIXES)))
    unexpected = tuple(sorted(k for k in source if k not in used and k not in dropped))
    return LoadReport(path, len(new), tuple(missing), unexpected, dropped)


def load_weights(backbone: Backbone, init: str, path: str, name: str = "backbone"
                 ) -> LoadReport:
    """Initialise ``backbone`` from the file ``path`` as ``init`` (``torchvision`` or
    ``moco_v2``) says, logging a warning for missing or unexpected keys.

    Raises:
        ValueError: an unknown ``init``, or a file that is not of that kind or does not fit.
        FileNotFoundError: the file cannot be read.
    """
    readers = {"torchvision": torchvision_state, "moco_v2": moco_state}
    if init not in readers:
        raise ValueError(f"model.init: unknown init {init!r}; expected one of {sorted(readers)}")
    source = readers[init](read_checkpoint(path), path)
    report = load_state(backbone, source, path, name)
    if report.missing or report.unexpected:
        log.warning("model.weights %s -> %s: %d tensors loaded, %d missing (e.g. %s), "
                    "%d unexpected (e.g. %s)", path, name, report.loaded, len(report.missing),
                    list(report.missing[:3]), len(report.unexpected),
                    list(report.unexpected[:3]))
    return report
