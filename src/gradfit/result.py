"""TrainResult: what a training run did, its history and a readable summary."""
from dataclasses import dataclass, field

__all__ = ["TrainResult", "ConvergenceWarning", "DivergenceWarning", "STOP_REASONS"]

#: Every stop_reason a run can end with, and how TrainResult describes it.
STOP_REASONS = {
    "epochs": "ran the requested epochs",
    "max_steps": "reached max_steps",
    "grad_tol": "gradient norm fell below grad_tol",
    "converged": "converged: the loss fell by no more than tol for n_iter_no_change epochs",
    "diverged": "loss became NaN/inf",
    "early_stopping": "early stopping: no improvement for `patience` epochs",
    "callback": "a callback asked to stop",
    "interrupted": "interrupted by Ctrl-C",
}


class ConvergenceWarning(UserWarning):
    """Training trained until converged (no ``epochs`` given) and reached
    ``max_epochs`` while the loss was still falling: the model may be
    under-trained. Give more epochs or a larger lr."""


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss became NaN or inf.

    The model is left at the best parameters seen among the values before the
    last update, the start of the epoch in which the loss overflowed and the
    values the call started from (by their loss over all the data); the
    warning and ``TrainResult.restored`` say which."""


class _ComputedOnce:
    """A dataclass field whose value may be given as a function of no
    arguments: it is called on the first read, and its value kept."""

    def __set_name__(self, owner, name):
        self._slot = "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            return float("nan")                 # the field's default
        value = obj.__dict__[self._slot]
        if callable(value):
            value = obj.__dict__[self._slot] = float(value())
        return value

    def __set__(self, obj, value):
        obj.__dict__[self._slot] = value


@dataclass
class TrainResult:
    """What one call of :func:`gradfit.train` did.

    Attributes
    ----------
    history : dict
        ``history["loss"]``: one value per epoch, the mean of that epoch's
        minibatch losses (each measured before its update), weighted by
        batch size.
    steps : int
        Parameter updates made.
    epochs : int
        Epochs in which at least one minibatch was measured (the last may be
        partial when max_steps stopped it).
    seconds : float
        Wall time of the whole call: checks and training (not the
        ``final_loss`` pass, which runs when it is first read).
    samples_per_second : float
        Rows trained on per second of ``seconds``.
    stop_reason : str
        Why the run ended: one of the keys of ``gradfit.result.STOP_REASONS``
        ("epochs", "max_steps", "grad_tol", "converged", "diverged",
        "early_stopping", "callback", "interrupted").
    final_loss : float
        The exact loss over all the data at the parameters the model held
        when the call returned: one forward pass over the data, made on
        first access (training does not pay for it unless it is read).
        ``history["loss"][-1]`` is the running figure instead: the mean of
        the last epoch's minibatch losses, each measured before its update,
        which costs nothing.
    grad_norm : float or None
        Norm of the last full-data gradient computed (by grad_tol checks),
        or None if none was.
    loss_name : str
        The loss that was minimised ("mse", "sse", "mae", "huber",
        "cross_entropy" or "binary_cross_entropy").
    backend : str
        "c" or "numpy".
    n_samples, batch_size : int
        Rows of the data, and rows per step (n_samples for full batch).
    lr : float
        The learning rate.
    restored : str or None
        After a divergence, which parameters the model was given back (the
        best of: the values before the last update, the start of the epoch
        that diverged, the values the call started from); after early
        stopping with restore_best_weights, the best epoch; None otherwise.
    """

    history: dict = field(default_factory=lambda: {"loss": []})
    steps: int = 0
    epochs: int = 0
    seconds: float = 0.0
    samples_per_second: float = 0.0
    stop_reason: str = "epochs"
    final_loss: float = _ComputedOnce()  # type: ignore[assignment]
    grad_norm: float | None = None
    loss_name: str = "mse"
    backend: str = "c"
    n_samples: int = 0
    batch_size: int = 0
    lr: float = 0.0
    restored: str | None = None

    def __str__(self) -> str:
        losses = self.history["loss"]
        first = f"{losses[0]:.6g} -> {losses[-1]:.6g}, " if losses else ""
        rate = _si(self.samples_per_second)
        stopped = STOP_REASONS.get(self.stop_reason, self.stop_reason)
        if self.restored:
            stopped += f"; parameters restored to {self.restored} (loss {self.final_loss:.6g})"
        lines = [
            f"TrainResult: {self.epochs} epoch(s), {self.steps} step(s) in {self.seconds:.3g} s "
            f"({rate} samples/s, backend {self.backend})",
            f"  {self.loss_name} per epoch: {first}{self._final()}",
            f"  data: {self.n_samples} samples, batch {self.batch_size}, lr {self.lr:g}",
            f"  stopped: {stopped}"
            + (f" (gradient norm {self.grad_norm:.3g})" if self.grad_norm is not None else ""),
        ]
        return "\n".join(lines)

    def _final(self) -> str:
        if self.final_loss == self.final_loss:          # not NaN
            return f"final {self.final_loss:.10g}"
        if self.stop_reason == "interrupted":
            return "final loss not computed (interrupted)"
        return "final loss not computed (the data could not be read again)"

    def __repr__(self) -> str:
        return (f"TrainResult(epochs={self.epochs}, steps={self.steps}, final_loss={self.final_loss:.6g}, "
                f"stop_reason={self.stop_reason!r})")


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"
