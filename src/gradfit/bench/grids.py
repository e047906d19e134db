"""The grid workloads G1-G3 (`gradfit bench --grids`): many small models on
the same data, trained one `gf.train` at a time (the reference), by
`gf.train_many` (fused: one pass over the data for all), and where
installed by JAX (a `vmap` of the SGD step inside one jitted `lax.scan` per
epoch) and PyTorch (`torch.func.stack_module_state` + `vmap(grad)`, a
per-step Python loop). Each column is the ratio of the reference's time to
its own, one thread; train_many's models are checked to be bit-identical
to the reference's."""
import dataclasses
import time
import warnings

import numpy as np

from .workloads import BY_ID


@dataclasses.dataclass(frozen=True)
class Grid:
    """A grid: `count` models of workload `base`'s net on its data (n rows),
    learning rates spread around its lr, seeds 0.. (if `seeds`)."""

    id: str
    description: str
    base: str
    count: int
    n: int
    batch_size: int
    epochs: int
    dtype: str
    seeds: bool
    goal: float

    def rows(self, mode):
        return {"full": self.n, "quick": self.n // 2, "smoke": max(self.n // 200, self.batch_size)}[mode]

    def lrs(self):
        base = BY_ID[self.base].lr
        return [base * (0.5 + i / self.count) for i in range(self.count)]

    def models(self):
        import gradfit as gf
        wl = BY_ID[self.base]
        return [gf.MLP(list(wl.layer_sizes), activation=wl.activation, output_activation=wl.output_activation,
                       init="glorot", seed=i if self.seeds else 0, dtype=self.dtype) for i in range(self.count)]

    def data(self, n):
        return dataclasses.replace(BY_ID[self.base], dtype=self.dtype).data(n)


GRIDS = [
    Grid("G1", "256 linear 1->1 models, different lrs", "W1", 256, 200_000, 32, 2, "float64", False, 40.0),
    Grid("G2", "64 softplus 1-2-1 nets, different seeds and lrs", "W2", 64, 200_000, 32, 2, "float64", True, 8.0),
    Grid("G3", "16 tanh 1-64-64-1 nets", "W3", 16, 50_000, 64, 1, "float32", True, 1.5),
]
GRIDS_BY_ID = {g.id: g for g in GRIDS}


def select_grids(text):
    """The grids named in `text` ("all" or "G1,G3"); ValueError for unknown ids."""
    if text.strip().lower() == "all":
        return list(GRIDS)
    wanted = [s.strip().upper() for s in text.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in GRIDS_BY_ID]
    if unknown or not wanted:
        raise ValueError(f"unknown grid id(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(GRIDS_BY_ID)}")
    return [g for g in GRIDS if g.id in wanted]


def _options(g, lr):
    return {"lr": lr, "batch_size": g.batch_size, "epochs": g.epochs, "seed": 0}


def run_separate(g, X, y):
    """One gf.train per model; (seconds, parameters)."""
    import gradfit as gf
    models = g.models()
    start = time.perf_counter()
    for m, lr in zip(models, g.lrs()):
        gf.train(m, X, y, **_options(g, lr))
    return time.perf_counter() - start, [m.params.copy() for m in models]


def run_fused(g, X, y):
    """gf.train_many over the grid (fused); (seconds, parameters)."""
    import gradfit as gf
    models = g.models()
    jobs = [{"model": m, "X": X, "y": y, **_options(g, lr)} for m, lr in zip(models, g.lrs())]
    start = time.perf_counter()
    results = gf.train_many(jobs, errors="raise")
    seconds = time.perf_counter() - start
    if any(len(r.fused_with) != g.count for r in results):
        raise RuntimeError(f"{g.id}: train_many did not fuse the grid")
    return seconds, [m.params.copy() for m in models]


def _torch_act(torch, name):
    return {"identity": lambda z: z, "tanh": torch.tanh, "softplus": torch.nn.functional.softplus,
            "relu": torch.relu, "sigmoid": torch.sigmoid}[name]


def run_torch(g, X, y):
    """torch.func.stack_module_state + vmap(grad), one step per Python loop turn."""
    import torch
    from torch.func import grad, vmap
    torch.set_num_threads(1)
    models = g.models()
    acts = models[0].activations
    params = [tuple(torch.from_numpy(np.ascontiguousarray(a)) for pair in zip(m.weights, m.biases) for a in pair)
              for m in models]
    stacked = [torch.stack([p[i] for p in params]) for i in range(len(params[0]))]
    lrs = torch.tensor(g.lrs(), dtype=stacked[0].dtype)
    funcs = [_torch_act(torch, a) for a in acts]

    def loss(ps, xb, yb):
        h = xb
        for k, f in enumerate(funcs):
            h = f(h @ ps[2 * k] + ps[2 * k + 1])
        return ((h - yb) ** 2).mean()

    step = vmap(grad(loss), in_dims=(0, None, None))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(g.epochs):
        perm = torch.randperm(X.shape[0], generator=gen)
        for s in range(0, X.shape[0], g.batch_size):
            idx = perm[s:s + g.batch_size]
            grads = step(stacked, Xt[idx], yt[idx])
            stacked = [p - lrs.view(-1, *[1] * (p.dim() - 1)) * d for p, d in zip(stacked, grads)]
    return time.perf_counter() - start, None


def run_jax(g, X, y):
    """A vmap of the SGD step inside one jitted lax.scan per epoch."""
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", g.dtype == "float64")
    models = g.models()
    acts = models[0].activations
    fn = {"identity": lambda z: z, "tanh": jnp.tanh, "softplus": jax.nn.softplus, "relu": jax.nn.relu,
          "sigmoid": jax.nn.sigmoid}
    params = [jnp.stack([jnp.asarray(a) for a in arrays])
              for arrays in zip(*[[a for pair in zip(m.weights, m.biases) for a in pair] for m in models])]
    lrs = jnp.asarray(g.lrs(), dtype=params[0].dtype)

    def loss(ps, xb, yb):
        h = xb
        for k, a in enumerate(acts):
            h = fn[a](h @ ps[2 * k] + ps[2 * k + 1])
        return jnp.mean((h - yb) ** 2)

    def one(ps, lr, xb, yb):
        gr = jax.grad(loss)(ps, xb, yb)
        return [p - lr * d for p, d in zip(ps, gr)]

    step = jax.vmap(one, in_axes=(0, 0, None, None))
    nb = X.shape[0] // g.batch_size             # whole batches (scan needs one shape)

    @jax.jit
    def epoch(ps, Xe, ye):
        def body(ps, b):
            return step(ps, lrs, b[0], b[1]), None
        ps, _ = jax.lax.scan(body, ps, (Xe.reshape(nb, g.batch_size, -1), ye.reshape(nb, g.batch_size, -1)))
        return ps

    rng = np.random.default_rng(0)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    jax.block_until_ready(epoch(params, Xj[:nb * g.batch_size], yj[:nb * g.batch_size]))   # compile
    start = time.perf_counter()
    for _ in range(g.epochs):
        order = jnp.asarray(rng.permutation(X.shape[0])[:nb * g.batch_size])
        params = epoch(params, Xj[order], yj[order])
    jax.block_until_ready(params)
    return time.perf_counter() - start, None


def run_grids(grids, mode, repeats, frameworks, progress):
    """Times each grid's columns (best of `repeats`, interleaved); returns rows
    of (grid, rows, {column: ratio to the separate runs}, notes)."""
    runners = {"train_many": run_fused}
    for name, fn in (("jax", run_jax), ("torch", run_torch)):
        if name in frameworks:
            runners[name] = fn
    out = []
    for g in grids:
        n = g.rows(mode)
        X, y = g.data(n)
        best = {}
        problems = []
        for _ in range(repeats):
            sep, ref = run_separate(g, X, y)
            best["separate"] = min(best.get("separate", sep), sep)
            for name, fn in runners.items():
                progress(f"gradfit bench: {g.id} {name}")
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        seconds, params = fn(g, X, y)
                except Exception as e:   # noqa: BLE001 - a framework's failure is a note, not a crash
                    problems.append(f"{g.id} {name}: {type(e).__name__}: {e}")
                    continue
                if params is not None and not all(np.array_equal(a, b) for a, b in zip(params, ref)):
                    problems.append(f"{g.id} {name}: parameters differ from one gf.train per model")
                best[name] = min(best.get(name, seconds), seconds)
        ratios = {k: best["separate"] / v for k, v in best.items() if k != "separate"}
        out.append((g, n, best["separate"], ratios, sorted(set(problems))))
    return out


def grid_table(rows, markdown):
    """The grid rows as text (or Markdown) lines."""
    cols = ["train_many", "jax", "torch"]
    head = ["grid", "models", "rows", "one gf.train each (s)"] + [f"{c} (x)" for c in cols] + ["goal (x)"]
    lines = []
    for g, n, sep, ratios, _ in rows:
        vals = [g.id + ": " + g.description, str(g.count), f"{n:,}", f"{sep:.3f}"]
        vals += [f"{ratios[c]:.2f}" if c in ratios else "-" for c in cols] + [f">= {g.goal:g}"]
        lines.append(vals)
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(v) + " |"
                                                                               for v in lines]
    widths = [max(len(r[i]) for r in [head] + lines) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [head] + lines]
