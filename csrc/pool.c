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

int gf_threads_set(int n)
{
    gf_n_threads = n < 1 ? 1 : (n > GF_MAX_THREADS ? GF_MAX_THREADS : n);
    return gf_n_threads;
}

int gf_threads_get(void)
{
    return gf_n_threads;
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
} gf_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
             PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0,
             0, 0, 0, 0, 0};

/* How long a thread spins before it sleeps: GF_SPIN_NS (tuning.h) */

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
                until = now + GF_SPIN_NS;
            else if (now > until)
                return;
            else
                sched_yield();
        }
    }
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
            gf_spin_while_equal(&gf_pool.generation, seen);
            pthread_mutex_lock(&gf_pool.mu);
            if (gf_pool.generation == seen)
                pthread_cond_wait(&gf_pool.cv, &gf_pool.mu);
        }
        seen = gf_pool.generation;
        while (gf_pool.next_part < gf_pool.n_parts) {
            const int part = gf_pool.next_part++;
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

void gf_pool_run(void (*fn)(void *, int, int), void *arg, int n_parts)
{
    const int threads = gf_n_threads;
    if (n_parts <= 1 || threads <= 1 || pthread_mutex_trylock(&gf_pool.busy) != 0) {
        gf_run_serial(fn, arg, n_parts);
        return;
    }
    const int workers = gf_pool_grow(threads - 1);
    if (workers < 1) {
        pthread_mutex_unlock(&gf_pool.busy);
        gf_run_serial(fn, arg, n_parts);
        return;
    }
    pthread_mutex_lock(&gf_pool.mu);
    gf_pool.fn = fn;
    gf_pool.arg = arg;
    gf_pool.n_parts = n_parts;
    gf_pool.next_part = 0;
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
    pthread_mutex_unlock(&gf_pool.busy);
}
#else
void gf_pool_run(void (*fn)(void *, int, int), void *arg, int n_parts)
{
    gf_run_serial(fn, arg, n_parts);
}
#endif
