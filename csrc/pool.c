/* A pthread pool for the products (see pool.h). Workers are created on the
 * first parallel run and live for the process. Between tasks a worker first
 * spins for up to GF_SPIN_NS, watching for the next task, then sleeps on a
 * condition variable; the caller likewise spins a while for the last parts
 * before it sleeps. A training step runs several products with short serial
 * stretches between them (the optimizer update, the loss): waking a
 * sleeping thread costs tens of microseconds on a virtual machine, each
 * time, while a spinning one starts at once. Builds without pthreads (MSVC)
 * run every part in the caller. */
#include "pool.h"
#include "tuning.h"

#if defined(__GNUC__) && !defined(_WIN32)
#define GF_HAVE_PTHREADS 1
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#else
#define GF_HAVE_PTHREADS 0
#endif

#if defined(_MSC_VER)
static __declspec(thread) int gf_n_threads = 1;
#else
static _Thread_local int gf_n_threads = 1;
#endif

static void gf_pool_reprobe(void);

/* Called at the start of every C entry point: with more than one thread it
 * may also probe the pool again (gf_pool_reprobe). */
int gf_threads_set(int n)
{
    gf_n_threads = n < 1 ? 1 : (n > GF_MAX_THREADS ? GF_MAX_THREADS : n);
    if (gf_n_threads > 1)
        gf_pool_reprobe();
    return gf_n_threads;
}

int gf_threads_get(void)
{
    return gf_n_threads;
}

/* ---- the run-time tunables (pool.h) ---- */

#if defined(__GNUC__) || defined(__clang__)
#define GF_T_LOAD(v) __atomic_load_n(&(v), __ATOMIC_RELAXED)
#define GF_T_STORE(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELAXED)
#else /* MSVC: aligned 8-byte loads and stores are atomic on x86-64 and arm64 */
#define GF_T_LOAD(v) (*(volatile int64_t *)&(v))
#define GF_T_STORE(v, x) (*(volatile int64_t *)&(v) = (x))
#endif

static int64_t gf_tune_vals[GF_T_COUNT_] = {
    GF_PANEL_BYTES, GF_MATMUL_KC, GF_A_COLS_SPAN, GF_PARALLEL_MACS,
    GF_PARALLEL_OUTS, GF_PARALLEL_SMALL, GF_PARALLEL_UPDATE, GF_SPIN_NS};
/* the bounds of each (tuning.h) */
static const int64_t gf_tune_lo[GF_T_COUNT_] = {
    GF_PANEL_BYTES_MIN, 16, 1024, 0, 0, 0, 0, 0};
static const int64_t gf_tune_hi[GF_T_COUNT_] = {
    GF_PANEL_BYTES_MAX, 4096, (int64_t)1 << 20, (int64_t)1 << 40, (int64_t)1 << 40,
    (int64_t)1 << 40, (int64_t)1 << 40, 100000000};
static int64_t gf_tune_derive = 1;          /* written under no lock: see gf_tuning_set */
static double gf_tune_macs_per_ns = GF_RATE_MACS_PER_NS;
static double gf_tune_elems_per_ns = GF_RATE_ELEMS_PER_NS;
static int64_t gf_wake_ns = 0;

int64_t gf_tune_i(int which)
{
    return GF_T_LOAD(gf_tune_vals[which]);
}

static int64_t gf_clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* parallel_* from the pool's wake-up cost: a split of work taking t on one
 * thread saves t (1 - 1/n) and costs about two wake-ups (the start and the
 * join); it is made when the saving is at least GF_SPLIT_MARGIN times that
 * cost (for n = 2: t >= 4 * GF_SPLIT_MARGIN * wake), so that a rate off by
 * that factor still does not make a split lose. The thresholds are that t
 * in multiply-adds (products) or elements (passes over memory; the
 * optimizer update reads and writes about four arrays per parameter). */
static void gf_tuning_derive_now(void)
{
    const double t = 4.0 * GF_SPLIT_MARGIN * (double)GF_T_LOAD(gf_wake_ns);
    if (!(t > 0))
        return;
    const double macs = t * gf_tune_macs_per_ns, elems = t * gf_tune_elems_per_ns;
    GF_T_STORE(gf_tune_vals[GF_T_PARALLEL_MACS], gf_clamp64((int64_t)macs, GF_PARALLEL_FLOOR, (int64_t)1 << 40));
    GF_T_STORE(gf_tune_vals[GF_T_PARALLEL_OUTS], gf_clamp64((int64_t)elems, GF_PARALLEL_FLOOR, (int64_t)1 << 40));
    GF_T_STORE(gf_tune_vals[GF_T_PARALLEL_SMALL], gf_clamp64((int64_t)elems, GF_PARALLEL_FLOOR, (int64_t)1 << 40));
    GF_T_STORE(gf_tune_vals[GF_T_PARALLEL_UPDATE], gf_clamp64((int64_t)(elems / 4), GF_PARALLEL_FLOOR, (int64_t)1 << 40));
}

void gf_tuning_get(gf_tuning *out)
{
    out->panel_bytes = gf_tune_i(GF_T_PANEL_BYTES);
    out->matmul_kc = gf_tune_i(GF_T_MATMUL_KC);
    out->a_cols_span = gf_tune_i(GF_T_A_COLS_SPAN);
    out->parallel_macs = gf_tune_i(GF_T_PARALLEL_MACS);
    out->parallel_outs = gf_tune_i(GF_T_PARALLEL_OUTS);
    out->parallel_small = gf_tune_i(GF_T_PARALLEL_SMALL);
    out->parallel_update = gf_tune_i(GF_T_PARALLEL_UPDATE);
    out->spin_ns = gf_tune_i(GF_T_SPIN_NS);
    out->derive = GF_T_LOAD(gf_tune_derive);
    out->macs_per_ns = gf_tune_macs_per_ns;
    out->elems_per_ns = gf_tune_elems_per_ns;
    out->wake_ns = GF_T_LOAD(gf_wake_ns);
}

/* Called at import (before any thread trains) and by tests; each store is
 * atomic, and every value gives the same bits, so a call racing a product
 * only changes how fast it runs (gemm.inc reads kc once per product). */
void gf_tuning_set(const gf_tuning *in)
{
    const int64_t v[GF_T_COUNT_] = {in->panel_bytes, in->matmul_kc, in->a_cols_span,
                                    in->parallel_macs, in->parallel_outs, in->parallel_small,
                                    in->parallel_update, in->spin_ns};
    for (int i = 0; i < GF_T_COUNT_; i++)
        GF_T_STORE(gf_tune_vals[i], gf_clamp64(v[i], gf_tune_lo[i], gf_tune_hi[i]));
    if (in->macs_per_ns > 0 && in->macs_per_ns < 1e6)
        gf_tune_macs_per_ns = in->macs_per_ns;
    if (in->elems_per_ns > 0 && in->elems_per_ns < 1e6)
        gf_tune_elems_per_ns = in->elems_per_ns;
    GF_T_STORE(gf_tune_derive, in->derive ? 1 : 0);
    if (in->derive)
        gf_tuning_derive_now();
}

static void gf_run_serial(void (*fn)(void *, int, int), void *arg, int n_parts)
{
    for (int p = 0; p < n_parts; p++)
        fn(arg, p, n_parts);
}

#if GF_HAVE_PTHREADS
/* One task at a time: `busy` guards the pool (a caller that finds it taken
 * runs its parts alone); `mu`/`cv` carry the task to the workers, `done_cv`
 * the completions back. */
static struct {
    pthread_mutex_t busy;
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    int n_workers;                  /* started so far */
    int failed;                     /* creation failed: never try again */
    unsigned long generation;       /* bumped for every task */
    void (*fn)(void *, int, int);
    void *arg;
    int n_parts;
    int next_part;                  /* the next part a worker takes */
    unsigned long pending;          /* parts not finished yet */
    int64_t t_dispatch;             /* when the task was handed out; 0 once a worker took a part */
    int no_spin;                    /* set by the probe: workers sleep at once after a task */
    int sleeping;                   /* workers waiting on cv */
} gf_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
             PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0,
             0, 0, 0, 0, 0, 0, 0, 0};

/* the last probe round's end and the rounds made (gf_pool_reprobe) */
static int64_t gf_probe_last = 0;           /* written with `busy` held */
static int gf_probe_rounds = 0;

/* How long a thread spins before it sleeps: GF_SPIN_NS (tuning.h, set at
 * run time through gf_tuning_set) */

static void gf_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t gf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spins, without the lock, until *v != value or GF_SPIN_NS have passed.
 * The fields it watches are written under gf_pool.mu with atomic stores;
 * the caller re-checks under the lock (this is only a fast path). Every 256
 * pauses (some microseconds) it also yields the CPU: on a machine with more
 * runnable threads than CPUs, the thread it waits for may be queued behind
 * it on this very CPU (with none waiting, sched_yield returns at once). */
static void gf_spin_while_equal(unsigned long *v, unsigned long value)
{
    int64_t until = -1;
    for (unsigned i = 0; __atomic_load_n(v, __ATOMIC_ACQUIRE) == value; i++) {
        gf_cpu_relax();
        if ((i & 255) == 0) {
            const int64_t now = gf_now_ns();
            if (until < 0)
                until = now + gf_tune_i(GF_T_SPIN_NS);
            else if (now > until)
                return;
            else
                sched_yield();
        }
    }
}

/* A worker took the first part of a task `arrival` ns after it was handed
 * out (called under gf_pool.mu). A round trip is about two such latencies
 * (the start and the join): when that is under half the wake-up cost in
 * use, the cost is lowered to it and the thresholds derived again. So a
 * probe made while the machine was busy (the worker queued behind other
 * work) does not keep the thresholds high for the life of the process; they
 * follow the least cost seen, and change rarely (by halves at least). */
static void gf_note_wake(int64_t arrival)
{
    const int64_t known = GF_T_LOAD(gf_wake_ns), round_trip = 2 * arrival;
    if (known == 0 || round_trip <= 0 || 2 * round_trip > known)
        return;
    GF_T_STORE(gf_wake_ns, round_trip);
    if (GF_T_LOAD(gf_tune_derive))
        gf_tuning_derive_now();
}

static void *gf_worker(void *unused)
{
    (void)unused;
    unsigned long seen = 0;
    pthread_mutex_lock(&gf_pool.mu);
    for (;;) {
        while (gf_pool.generation == seen || gf_pool.next_part >= gf_pool.n_parts) {
            seen = gf_pool.generation;
            pthread_mutex_unlock(&gf_pool.mu);
            if (!__atomic_load_n(&gf_pool.no_spin, __ATOMIC_ACQUIRE))
                gf_spin_while_equal(&gf_pool.generation, seen);
            pthread_mutex_lock(&gf_pool.mu);
            if (gf_pool.generation == seen) {
                __atomic_store_n(&gf_pool.sleeping, gf_pool.sleeping + 1, __ATOMIC_RELEASE);
                pthread_cond_wait(&gf_pool.cv, &gf_pool.mu);
                __atomic_store_n(&gf_pool.sleeping, gf_pool.sleeping - 1, __ATOMIC_RELEASE);
            }
        }
        seen = gf_pool.generation;
        while (gf_pool.next_part < gf_pool.n_parts) {
            const int part = gf_pool.next_part++;
            if (gf_pool.t_dispatch) {
                gf_note_wake(gf_now_ns() - gf_pool.t_dispatch);
                gf_pool.t_dispatch = 0;
            }
            void (*fn)(void *, int, int) = gf_pool.fn;
            void *arg = gf_pool.arg;
            const int n = gf_pool.n_parts;
            pthread_mutex_unlock(&gf_pool.mu);
            fn(arg, part, n);
            pthread_mutex_lock(&gf_pool.mu);
            const unsigned long left = gf_pool.pending - 1;
            __atomic_store_n(&gf_pool.pending, left, __ATOMIC_RELEASE);
            if (left == 0)
                pthread_cond_signal(&gf_pool.done_cv);
        }
    }
    return NULL;
}

/* A forked child has the pool's memory but none of its threads: start
 * afresh there. */
static void gf_pool_after_fork_child(void)
{
    pthread_mutex_init(&gf_pool.busy, NULL);
    pthread_mutex_init(&gf_pool.mu, NULL);
    pthread_cond_init(&gf_pool.cv, NULL);
    pthread_cond_init(&gf_pool.done_cv, NULL);
    gf_pool.n_workers = 0;
    gf_pool.generation = 0;
    gf_pool.n_parts = gf_pool.next_part = gf_pool.pending = 0;
    gf_pool.t_dispatch = 0;
    gf_pool.no_spin = gf_pool.sleeping = 0;
    gf_probe_last = 0;
    gf_probe_rounds = 0;
}

/* Workers up to `want` (called with `busy` held); returns how many exist. */
static int gf_pool_grow(int want)
{
    static int atfork_done = 0;
    if (!atfork_done) {
        if (pthread_atfork(NULL, NULL, gf_pool_after_fork_child) != 0)
            gf_pool.failed = 1;
        atfork_done = 1;
    }
    while (!gf_pool.failed && gf_pool.n_workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0) {
            gf_pool.failed = 1;
            break;
        }
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, (size_t)1 << 20);
        const int rc = pthread_create(&t, &attr, gf_worker, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            gf_pool.failed = gf_pool.n_workers == 0;
            break;
        }
        gf_pool.n_workers++;
    }
    return gf_pool.n_workers;
}

/* Runs the task on the pool (called with `busy` held and workers started) */
static void gf_pool_dispatch(void (*fn)(void *, int, int), void *arg, int n_parts)
{
    pthread_mutex_lock(&gf_pool.mu);
    gf_pool.fn = fn;
    gf_pool.arg = arg;
    gf_pool.n_parts = n_parts;
    gf_pool.next_part = 0;
    gf_pool.t_dispatch = gf_now_ns();
    __atomic_store_n(&gf_pool.pending, (unsigned long)n_parts, __ATOMIC_RELEASE);
    __atomic_store_n(&gf_pool.generation, gf_pool.generation + 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&gf_pool.cv);
    /* the caller works too, taking parts like a worker */
    while (gf_pool.next_part < gf_pool.n_parts) {
        const int part = gf_pool.next_part++;
        pthread_mutex_unlock(&gf_pool.mu);
        fn(arg, part, n_parts);
        pthread_mutex_lock(&gf_pool.mu);
        __atomic_store_n(&gf_pool.pending, gf_pool.pending - 1, __ATOMIC_RELEASE);
    }
    if (gf_pool.pending > 0) {      /* a worker is still at it: spin, then sleep */
        pthread_mutex_unlock(&gf_pool.mu);
        for (unsigned long left; (left = __atomic_load_n(&gf_pool.pending, __ATOMIC_ACQUIRE)) > 0;) {
            gf_spin_while_equal(&gf_pool.pending, left);
            if (__atomic_load_n(&gf_pool.pending, __ATOMIC_ACQUIRE) == left)
                break;              /* the spin timed out */
        }
        pthread_mutex_lock(&gf_pool.mu);
    }
    while (gf_pool.pending > 0)
        pthread_cond_wait(&gf_pool.done_cv, &gf_pool.mu);
    gf_pool.n_parts = 0;
    pthread_mutex_unlock(&gf_pool.mu);
}

/* The wake-up probe: each of the two parts checks in, then waits (at most
 * GF_PROBE_WAIT_NS) for the other, so the caller's part 0 ends only once a
 * worker has taken part 1 (or, if none came in time, the caller takes it). */
static void gf_probe_part(void *arg, int part, int n_parts)
{
    (void)part;
    int *arrived = (int *)arg;
    __atomic_add_fetch(arrived, 1, __ATOMIC_ACQ_REL);
    const int64_t until = gf_now_ns() + GF_PROBE_WAIT_NS;
    for (unsigned i = 1; __atomic_load_n(arrived, __ATOMIC_ACQUIRE) < n_parts; i++) {
        gf_cpu_relax();
        if ((i & 255) == 0) {       /* as gf_spin_while_equal: let a queued worker run */
            if (gf_now_ns() > until)
                break;
            sched_yield();
        }
    }
}

/* The pool's wake-up cost: the median time, over GF_PROBE_RUNS empty
 * two-part tasks, from handing out a task to having it back, with a worker
 * taking one part. Measured once, when the workers start (a few tens of
 * microseconds); then the thresholds are derived from it if asked.
 *
 * A new thread starts on whichever CPU the scheduler chose at its creation,
 * often the caller's own; probed there, a worker that spins only runs when
 * the caller yields, and the probe measures that queueing (some 15 us on a
 * 2-vCPU VM, against 0.3 us with a CPU each), not what the pool costs once
 * the scheduler has spread the threads. Waking a sleeping thread is where
 * the scheduler looks for an idle CPU, so the workers first run one empty
 * task and go to sleep straight after it (no spinning), and the probes
 * start with the wake-up that ends that sleep. */
static void gf_pool_measure(void)
{
    int arrived = 0;
    __atomic_store_n(&gf_pool.no_spin, 1, __ATOMIC_RELEASE);
    gf_pool_dispatch(gf_probe_part, &arrived, 2);
    const int64_t until = gf_now_ns() + GF_PROBE_WAIT_NS;
    while (__atomic_load_n(&gf_pool.sleeping, __ATOMIC_ACQUIRE) < gf_pool.n_workers && gf_now_ns() < until)
        sched_yield();
    __atomic_store_n(&gf_pool.no_spin, 0, __ATOMIC_RELEASE);
    int64_t dt[GF_PROBE_RUNS];
    for (int i = 0; i < GF_PROBE_RUNS; i++) {
        arrived = 0;
        const int64_t t0 = gf_now_ns();
        gf_pool_dispatch(gf_probe_part, &arrived, 2);
        dt[i] = gf_now_ns() - t0;
        for (int j = i; j > 0 && dt[j] < dt[j - 1]; j--) {     /* kept sorted */
            const int64_t x = dt[j];
            dt[j] = dt[j - 1];
            dt[j - 1] = x;
        }
    }
    /* the round's median: neither the first probe's wake-up from sleep nor
     * one lucky round trip decides it */
    const int64_t best = dt[GF_PROBE_RUNS / 2];
    const int64_t known = GF_T_LOAD(gf_wake_ns);
    if (known == 0 || (best > 0 && best < known))
        GF_T_STORE(gf_wake_ns, best > 0 ? best : 1);
    if (GF_T_LOAD(gf_tune_derive))
        gf_tuning_derive_now();
}

/* The probe again, at most GF_PROBE_ROUNDS times in all and at least
 * GF_PROBE_GAP_NS apart, from the entry points of later calls with more
 * than one thread, while the pool exists and is free; the wake-up cost kept
 * is the least any round found. One probe is one moment: if the other
 * CPUs are busy then (another process, a build), the worker queues behind
 * the caller and the probe reads the queueing (some 15 us on a 2-vCPU VM),
 * and thresholds derived from it stay high (no product splits, so the
 * running least of gf_note_wake never sees a task either) for the life of
 * the process. Later rounds, spread over the first calls, find the cost of
 * the machine when it has a CPU per thread. A round costs GF_PROBE_RUNS
 * round trips: a few microseconds, or some 150 us at a busy moment. */
static void gf_pool_reprobe(void)
{
    if (GF_T_LOAD(gf_wake_ns) == 0 || __atomic_load_n(&gf_probe_rounds, __ATOMIC_RELAXED) >= GF_PROBE_ROUNDS)
        return;
    const int64_t now = gf_now_ns();
    if (now - GF_T_LOAD(gf_probe_last) < GF_PROBE_GAP_NS || pthread_mutex_trylock(&gf_pool.busy) != 0)
        return;
    if (gf_pool.n_workers > 0 && gf_probe_rounds < GF_PROBE_ROUNDS && now - gf_probe_last >= GF_PROBE_GAP_NS) {
        gf_pool_measure();
        GF_T_STORE(gf_probe_last, gf_now_ns());
        __atomic_store_n(&gf_probe_rounds, gf_probe_rounds + 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&gf_pool.busy);
}

void gf_pool_run(void (*fn)(void *, int, int), void *arg, int n_parts)
{
    const int threads = gf_n_threads;
    if (n_parts <= 1 || threads <= 1 || pthread_mutex_trylock(&gf_pool.busy) != 0) {
        gf_run_serial(fn, arg, n_parts);
        return;
    }
    const int had = gf_pool.n_workers;
    const int workers = gf_pool_grow(threads - 1);
    if (workers < 1) {
        pthread_mutex_unlock(&gf_pool.busy);
        gf_run_serial(fn, arg, n_parts);
        return;
    }
    if (had == 0 && GF_T_LOAD(gf_wake_ns) == 0) {
        gf_pool_measure();
        GF_T_STORE(gf_probe_last, gf_now_ns());
    }
    gf_pool_dispatch(fn, arg, n_parts);
    pthread_mutex_unlock(&gf_pool.busy);
}
#else
static void gf_pool_reprobe(void)
{
}

void gf_pool_run(void (*fn)(void *, int, int), void *arg, int n_parts)
{
    gf_run_serial(fn, arg, n_parts);
}
#endif
