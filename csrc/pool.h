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

#define GF_MAX_THREADS 64

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
