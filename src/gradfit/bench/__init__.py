"""The benchmark suite: gradfit's training throughput against a skilled
user's NumPy loop, and PyTorch, JAX and scikit-learn where installed.

    gradfit bench                         # quick mode (well under a minute on 2 cores)
    gradfit bench --full                  # the published figures
    gradfit bench --workloads W1,W3 --threads 1,2 --dtype float32
    gradfit bench --json r.json --plot r.png
    python -m gradfit.bench ...           # the same

Modules: workloads (W1-W5), baseline (the tuned NumPy loop, the "numpy"
column), runners (gradfit and the NumPy loops), frameworks (PyTorch, JAX,
scikit-learn, imported only when present), timing (the protocol), machine
(where a table ran), report (tables, JSON, the bar chart), command (the
options). Nothing else in gradfit imports this package.

Exports: ``main(argv)`` (the command; returns its exit status), ``WORKLOADS``
(the list of W1-W5 ``Workload`` entries) and ``select(ids, dtype)``.
"""
from .command import main
from .workloads import WORKLOADS, Workload, select

__all__ = ["main", "WORKLOADS", "Workload", "select"]
