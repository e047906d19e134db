"""The model file: save and load models and Trainers, safely.

A gradfit file is one ``.npz`` archive (a zip of ``.npy`` members, stored
uncompressed) that ``numpy.load(path, allow_pickle=False)`` can open too.
Nothing in it is ever unpickled or executed: every member is a plain numeric
array, and the metadata is JSON text held in a ``uint8`` array.

Members (all 1-D):

``metadata``      uint8, the UTF-8 bytes of a JSON object (format below)
``params``        float32 / float64, ``model.params`` (W0, b0, W1, b1, ...)

and for a Trainer:

``state``         the optimizer state buffer (model dtype; SGD: n_params, Adam/AdamW: 2 n_params)
``step_count``    int64, one value
``history_<key>`` float64, one per history key ("loss", "lr", "penalty", "val_loss", "val_accuracy")
``best_params``   (optional) early stopping's best parameters (model dtype)
``pending_order`` (optional) int64, the row order of a partial epoch

The JSON metadata (``FORMAT`` is its "format", ``FORMAT_VERSION`` its "format_version")::

    {"format": "gradfit", "format_version": 1, "kind": "model" | "trainer",
     "gradfit_version": "0.1.0",
     "model": {"layer_sizes": [...], "activations": [...], "dtype": "float64"},
     "extra": {...},                      # optional, free JSON (e.g. an estimator's)
     "trainer": {...}}                    # kind "trainer" only: see save_trainer

Non-finite floats in the metadata (a schedule's "best so far" before any
epoch, ...) are written as the strings "inf", "-inf" and "nan".

Writes are atomic: the archive goes to a temporary file in the target's
directory, is flushed and fsync'ed, then renamed over the target. What a
save does to the file already there:

- its mode (0600 stays 0600) and, where the process may set them, its owner
  and group go to the new file; a new file gets 0o666 minus the umask;
- a file that may not be written, or whose mode has no write bit (0444), is
  refused with ``PermissionError`` (even as root), and so is a directory
  likewise (0555); a missing directory with ``FileNotFoundError``: each
  names the path given, and nothing is written;
- a symlink is followed: the file it points to is replaced (atomically, next
  to itself) and the link stays;
- a hard link is broken: the name given gets the new file (a new inode), the
  file's other names keep the old contents;
- a model or Trainer holding NaN or inf (parameters, optimizer state, best
  parameters) is refused with ``ValueError`` before anything is written, since
  ``load`` would refuse the file: the old file stays as it was.

``load`` reads only regular files: a device (``/dev/zero``), a FIFO or a
directory is refused at once with ``ValueError("<path>: not a regular file ...")``.

``load`` checks everything before it allocates anything sized by the file: the
archive's structure (uncompressed members, no encryption, each inside the
file), the metadata's size and JSON types, the format name and version, the
architecture (known activations, sizes within the model's limits), then each
member's ``.npy`` header (dtype, 1-D, element count matching the metadata and
the member's byte size), and finally the values (finite parameters, a valid
permutation for a partial epoch, ...). Any defect raises ``ValueError`` whose
message starts with the file's path and says what is wrong.
"""
from __future__ import annotations

import os
from typing import Any

from ._codec import model_bytes, model_file, read_model, read_trainer, trainer_file
from ._npzfile import FORMAT, FORMAT_VERSION, Archive, FileDefect, guarded, read_header, write_npz
from .callbacks import as_callbacks
from .model import MLP
from .schedules import as_schedule
from .trainer import Trainer, check_bool

__all__ = ["FORMAT", "FORMAT_VERSION", "load", "save_model", "load_model", "save_trainer", "load_trainer",
           "read_metadata", "model_bytes"]


def save_model(model: MLP, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None) -> None:
    """Writes `model` to `path` (exactly that name: no suffix is added).

    Parameters
    ----------
    model : MLP
    path : str or os.PathLike
    extra : dict, optional
        JSON-serialisable data stored with the model (e.g. by an estimator);
        ``load_model(path, with_extra=True)`` returns it.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model: expected a gradfit.MLP, got {type(model).__name__}")
    write_npz(path, *model_file(model, extra))


def save_trainer(trainer: Trainer, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None) -> None:
    """Writes a Trainer (its model, optimizer and state, step count, RNG,
    epoch, history, schedule, early stopping, partial epoch and settings) to
    `path`. Callbacks and validation_data are not saved: give them to
    load_trainer again. A function lr_schedule (or a Schedule class of your
    own) is saved by name only and must be passed to load_trainer again too."""
    if not isinstance(trainer, Trainer):
        raise TypeError(f"trainer: expected a gradfit.Trainer, got {type(trainer).__name__}")
    write_npz(path, *trainer_file(trainer.state_dict(), trainer.model, extra))


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked JSON metadata of a gradfit file (format, kind, versions, model, trainer, extra)."""
    def body(name: str, archive: Archive) -> dict[str, Any]:
        from ._codec import check_architecture
        meta = read_header(archive)
        check_architecture(meta)
        return meta
    result: dict[str, Any] = guarded(path, body)
    return result


def _build_model(sizes: list[int], acts: list[str], dtype: Any, params: Any) -> MLP:
    model = MLP(sizes, activation=acts[:-1] or "identity", output_activation=acts[-1], dtype=dtype, init="zeros")
    model.params[...] = params
    return model


def load_model(path: str | os.PathLike[str], *, with_extra: bool = False) -> Any:
    """Reads the model of a gradfit file (a saved model or a saved Trainer).

    Returns
    -------
    MLP, or (MLP, extra dict) with ``with_extra=True``

    Raises
    ------
    ValueError
        "<path>: ..." for a file that is not a valid gradfit file: what is wrong.
    FileNotFoundError
    """
    def body(name: str, archive: Archive) -> Any:
        meta = read_header(archive)
        model = _build_model(*read_model(archive, meta))
        return (model, meta.get("extra") or {}) if with_extra else model
    return guarded(path, body)


def load_trainer(path: str | os.PathLike[str], model: MLP | None = None, *, callbacks: Any = None,
                 validation_data: Any = None, lr_schedule: Any = None, progress: bool | None = None) -> Trainer:
    """Reads a Trainer saved by ``Trainer.save(path)``, ready to continue.

    ``trainer.fit`` then continues exactly (bit for bit) where the saved
    Trainer was: same parameters, optimizer state, step count, shuffling
    generator, epoch, history, schedule position, early-stopping state and
    partial epoch.

    Parameters
    ----------
    path : str or os.PathLike
    model : MLP, optional
        Train this model: it must have the file's layer sizes, activations
        and dtype, and gets the file's parameters. Default: a new MLP.
    callbacks : list, optional
        Not saved in the file: give them again (default none).
    validation_data : tuple, optional
        Not saved in the file: give it again (unless the Trainer holds out a
        ``validation_fraction``, which is saved).
    lr_schedule : Schedule or callable, optional
        Replaces the saved schedule; required when the saved one was a
        function or a Schedule class of your own (saved by name only). Its
        ``set_state`` receives the saved state.
    progress : bool, optional
        Default: the saved setting.

    Returns
    -------
    Trainer

    Raises
    ------
    ValueError
        ``"<path>: ..."`` when the file is damaged, inconsistent or holds a
        model only (read that with ``gradfit.load``).
    FileNotFoundError
    """
    if model is not None and not isinstance(model, MLP):
        raise TypeError(f"model: expected a gradfit.MLP or None, got {type(model).__name__}")
    callbacks = as_callbacks(callbacks)
    if lr_schedule is not None:
        lr_schedule = as_schedule(lr_schedule)
    if progress is not None:
        check_bool(progress, "progress")

    def body(name: str, archive: Archive) -> Trainer:
        contents = read_trainer(archive, read_header(archive), lr_schedule)
        sizes, acts, dtype, params = contents["model"]
        target = model
        if target is None:
            target = _build_model(sizes, acts, dtype, params)
        elif target.layer_sizes != tuple(sizes) or target.activations != tuple(acts) or target.dtype != dtype:
            raise FileDefect(f"the file's model is {list(sizes)} {list(acts)} {dtype.name}, but the model given "
                             f"is {list(target.layer_sizes)} {list(target.activations)} {target.dtype.name}")
        settings = contents["settings"]
        if progress is not None:
            settings["progress"] = bool(progress)
        trainer = Trainer(target, **settings)          # the Trainer's own checks of every setting
        trainer.load_state_dict(contents["state"])
        target.params[...] = params                    # last: nothing above failed
        return trainer

    trainer: Trainer = guarded(path, body)
    # what the file does not hold, checked by the Trainer's own rules
    trainer.callbacks = callbacks
    if validation_data is not None:
        if trainer.validation_fraction is not None:
            raise ValueError(f"validation_data: the saved Trainer holds out validation_fraction="
                             f"{trainer.validation_fraction}; give no validation_data with it")
        trainer.set_validation_data(validation_data)
    return trainer


def load(path: str | os.PathLike[str]) -> MLP:
    """Reads a model saved by ``model.save(path)`` (or the model of a saved Trainer).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    MLP

    Raises
    ------
    ValueError
        ``"<path>: ..."`` when the file is not a valid gradfit file
        (truncated, corrupted, a newer format version, inconsistent sizes,
        non-finite weights, pickled objects, ...), saying what is wrong.
        Nothing in the file is executed, and nothing is allocated from sizes
        the file declares before they are checked against its actual size.
    FileNotFoundError
        When there is no such file.
    """
    model: MLP = load_model(path)
    return model
