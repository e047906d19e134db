# Type stub of the compiled module gradfit._core (src/gradfit/_core.pyx):
# pointers in, GIL released, status out. Arrays are C-contiguous NumPy arrays
# of float32 or float64 (one dtype per call), int64 sizes / indices and int32
# activation ids.
from typing import Any

import numpy as np
import numpy.typing as npt

_Real = npt.NDArray[np.floating[Any]]
_I64 = npt.NDArray[np.int64]
_I32 = npt.NDArray[np.int32]
_F64 = npt.NDArray[np.float64]

STATUS_OK: int
STATUS_DIVERGED: int
STATUS_CONVERGED: int
STATUS_MAX_STEPS: int
STATUS_PAUSED: int
MAX_LEN: int

ACTIVATIONS: dict[str, int]
LOSSES: dict[str, int]
OPTIMIZERS: dict[str, int]
SIMD_PATHS: dict[str, int]

def simd_available() -> list[str]: ...
def simd_get() -> str: ...
def simd_set(name: str) -> str: ...
MAX_THREADS: int
TUNING_FIELDS: tuple[str, ...]
def tuning_get() -> dict[str, Any]: ...
def tuning_set(values: dict[str, Any]) -> dict[str, Any]: ...
# X: a C-contiguous (N, IN) array of the params' dtype, or a checked gradfit._sparse.CsrRows
_X = Any


def _too_large(sizes: _I64, chunk: int | None = ...) -> ValueError: ...
def n_params(sizes: _I64, acts: _I32) -> int: ...
def state_len(optim_id: int, n_params: int) -> int: ...
def workspace_len(sizes: _I64, acts: _I32, chunk: int, optim_id: int | None = ..., *,
                  forward_only: bool = ..., sparse: bool = ...) -> int: ...
def _activation(act: int, z: _Real, a: _Real, dadz: _Real) -> None: ...
def predict(sizes: _I64, acts: _I32, params: _Real, X: _X, chunk: int, ws: _Real, out: _Real, *,
            n_threads: int = ...) -> None: ...
def loss(sizes: _I64, acts: _I32, loss_id: int, params: _Real, X: _X, y: _Real, sw: _Real, chunk: int,
         ws: _Real, *, huber_delta: float = ..., n_threads: int = ...) -> float: ...
def loss_grad(sizes: _I64, acts: _I32, loss_id: int, params: _Real, grad: _Real, X: _X, y: _Real, sw: _Real,
              idx: _I64, chunk: int, ws: _Real, *, huber_delta: float = ..., l2: float = ...,
              n_threads: int = ...) -> float: ...
def reset_prev(sizes: _I64, acts: _I32, chunk: int, optim_id: int, params: _Real, state: _Real,
               step_count: _I64, ws: _Real, *, sparse: bool = ...) -> None: ...
def _unit_interval(value: float, name: str) -> None: ...
def train(sizes: _I64, acts: _I32, loss_id: int, optim_id: int, batch: int, chunk: int, max_steps: int,
          grad_tol: float, max_batches: int, params: _Real, grad: _Real, state: _Real, ws: _Real, X: _X,
          y: _Real, sw: _Real, idx: _I64, n_epochs: int, start_batch: int, epoch_lr: _F64, step_count: _I64,
          epoch_loss: _F64, epoch_penalty: _F64, epoch_weight: _F64, epoch_seen: _I64, *,
          huber_delta: float = ..., momentum: float = ..., nesterov: bool = ..., beta1: float = ...,
          beta2: float = ..., eps: float = ..., weight_decay: float = ...,
          l2: float = ..., n_threads: int = ...) -> tuple[int, int, int, int, float]: ...
def train_fused(sizes: _I64, acts: _I32, loss_id: int, optim_id: int, batch: int, chunk: int, max_batches: int,
                X: _Real, y: _Real, idx: _I64, n_epochs: int, start_batch: int, models: list[Any],
                n_threads: int = ...) -> list[tuple[int, int, int, int, float]]: ...
def train_fused_stack(sizes: _I64, acts: _I32, loss_id: int, batch: int, chunk: int, max_batches: int,
                      X: _Real, y: _Real, idx: _I64, n_epochs: int, params: _Real, lrs: _F64, l_acc: _F64,
                      p_acc: _F64, w_acc: _F64, seen: _I64, step_count: _I64, hyper: dict[str, Any],
                      n_threads: int = ...) -> tuple[_I64, _I64, _I64, _I64]: ...
PASS_ROWS: int

class Net:
    sizes: _I64
    acts: _I32
    n_params: int
    def __init__(self, sizes: Any, acts: Any) -> None: ...
    def rows(self, n: int) -> int: ...
    def predict(self, params: _Real, X: _X, out: _Real, *, n_threads: int = ...) -> None: ...
    def loss(self, loss_id: int, params: _Real, X: _X, y: _Real, sw: _Real, *, huber_delta: float = ...,
             n_threads: int = ...) -> float: ...
    def loss_grad(self, loss_id: int, params: _Real, grad: _Real, X: _X, y: _Real, sw: _Real, idx: _I64, *,
                  huber_delta: float = ..., l2: float = ..., n_threads: int = ...) -> float: ...

class Session:
    net: Net
    optim_id: int
    rows: int
    sparse: bool
    def __init__(self, net: Net, optim_id: int, batch: int, dtype: Any, *, sparse: bool = ...) -> None: ...
    def set_rollback_point(self, params: _Real, state: _Real, step_count: _I64) -> None: ...
    def train(self, loss_id: int, batch: int, max_steps: int, grad_tol: float, max_batches: int, params: _Real,
              grad: _Real, state: _Real, X: _X, y: _Real, sw: _Real, idx: _I64, n_epochs: int, start_batch: int,
              epoch_lr: _F64, step_count: _I64, epoch_loss: _F64, epoch_penalty: _F64, epoch_weight: _F64,
              epoch_seen: _I64, **settings: Any) -> tuple[int, int, int, int, float]: ...

ORDER_BUCKET_ROWS: int
ORDER_MAX_BUCKETS: int
ORDER_INLINE_MIN: int
def order_buckets(n: int) -> int: ...
def epoch_order(bit_generator: Any, order: _I64 | None, rows: Any = ..., ids: Any = ..., *, inline: bool = ...,
                buckets: int = ...) -> bool: ...
