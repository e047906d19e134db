"""TrainResult: what a training run did, its history and a readable summary."""
from dataclasses import dataclass, field

STOP_REASONS = {
    "epochs": "ran the requested epochs",
    "max_steps": "reached max_steps",
    "grad_tol": "gradient norm fell below grad_tol",
    "diverged": "loss became NaN/inf; parameters restored to the last finite values",
}


@dataclass
class TrainResult:
    """history["loss"] holds one value per epoch: the mean of that epoch's
    minibatch losses (each measured before its update), weighted by batch size.
    final_loss is the loss over all the data at the final parameters."""

    history: dict = field(default_factory=lambda: {"loss": []})
    steps: int = 0
    epochs: int = 0
    seconds: float = 0.0
    samples_per_second: float = 0.0
    stop_reason: str = "epochs"
    final_loss: float = float("nan")
    grad_norm: float | None = None
    loss: str = "mse"
    backend: str = "c"
    n_samples: int = 0
    batch_size: int = 0
    lr: float = 0.0

    def __str__(self):
        losses = self.history["loss"]
        first = f"{losses[0]:.6g} -> {losses[-1]:.6g}, " if losses else ""
        rate = _si(self.samples_per_second)
        lines = [
            f"TrainResult: {self.epochs} epoch(s), {self.steps} step(s) in {self.seconds:.3g} s "
            f"({rate} samples/s, backend {self.backend})",
            f"  {self.loss} per epoch: {first}final {self.final_loss:.10g}",
            f"  data: {self.n_samples} samples, batch {self.batch_size}, lr {self.lr:g}",
            f"  stopped: {STOP_REASONS.get(self.stop_reason, self.stop_reason)}"
            + (f" (gradient norm {self.grad_norm:.3g})" if self.grad_norm is not None else ""),
        ]
        return "\n".join(lines)

    def __repr__(self):
        return (f"TrainResult(epochs={self.epochs}, steps={self.steps}, final_loss={self.final_loss:.6g}, "
                f"stop_reason={self.stop_reason!r})")


def _si(x):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"
