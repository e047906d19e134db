/* Internal: a small pool of worker threads for the matrix products.
 *
 * The number of threads is a per-calling-thread setting (gf_threads_set, a
 * thread-local value), so that two Python threads training two models with
 * different n_threads do not interfere. gf_pool_run splits a task into parts
 * that write disjoint outputs; a part's arithmetic does not depend on how
 * many parts run in parallel, so every thread count gives bit-identical
 * results, and when the pool is busy (another caller holds it) or absent
 * (no pthreads, a forked child, creation failed) the caller simply runs the
 * parts itself, in order. */
#ifndef GRADFIT_POOL_H
#define GRADFIT_POOL_H

#include <stdint.h>

#define GF_MAX_THREADS 64

/* The tunables chosen at run time: gradfit._tuning derives them from the
 * CPU's caches and sets them once, at import (tuning.h holds the defaults
 * and bounds, and says why each exists). None changes a result's bits:
 * they only move where work goes (k blocks reload C and continue the same
 * sums in the same order; a split writes disjoint outputs).
 *   panel_bytes   bytes of a packed kc x NR panel of B (gemm.inc's k block:
 *                 kc = panel_bytes / (NR * element), at most GF_KC_BOUND)
 *   matmul_kc     the unpacked product's k block (gemm_small.inc)
 *   a_cols_span   GF_A_COLS_SPAN's bytes
 *   parallel_*    GF_PARALLEL_*'s thresholds (multiply-adds, entries,
 *                 elements, parameters): below them, work stays on the
 *                 calling thread
 *   spin_ns       GF_SPIN_NS
 *   derive        1: at pool start, set parallel_* from the pool's measured
 *                 wake-up cost and the rates below (gf_tuning_derive)
 *   macs_per_ns, elems_per_ns   one thread's rate of multiply-adds in the
 *                 packed products and of elements in a streaming pass
 *   wake_ns       the pool's measured wake-up cost (0: not measured yet) */
typedef struct {
    int64_t panel_bytes, matmul_kc, a_cols_span;
    int64_t parallel_macs, parallel_outs, parallel_small, parallel_update;
    int64_t spin_ns;
    int64_t derive;
    double macs_per_ns, elems_per_ns;
    int64_t wake_ns;
} gf_tuning;

/* A copy of the tunables in use. */
void gf_tuning_get(gf_tuning *out);
/* Sets the tunables (each clamped to its bounds; wake_ns is ignored); with
 * derive set and the pool already measured, derives the thresholds now. */
void gf_tuning_set(const gf_tuning *in);
/* One tunable, read from any thread (a relaxed atomic load). */
int64_t gf_tune_i(int which);
enum { GF_T_PANEL_BYTES, GF_T_MATMUL_KC, GF_T_A_COLS_SPAN, GF_T_PARALLEL_MACS,
       GF_T_PARALLEL_OUTS, GF_T_PARALLEL_SMALL, GF_T_PARALLEL_UPDATE, GF_T_SPIN_NS,
       GF_T_COUNT_ };

/* The calling thread's thread count for the products: n in 1..GF_MAX_THREADS
 * (clamped); returns the value set. */
int gf_threads_set(int n);
int gf_threads_get(void);

/* Runs fn(arg, part, n_parts) for part = 0 .. n_parts-1, in parallel on up
 * to gf_threads_get() threads (the caller takes part 0), and returns when
 * all are done. Not re-entrant from inside fn. */
void gf_pool_run(void (*fn)(void *arg, int part, int n_parts), void *arg,
                 int n_parts);
#endif
