/* The epoch's visiting order: NumPy's Fisher-Yates shuffle, draw for draw,
 * with the swaps' random loads prefetched.
 *
 * The swap partner j of step i depends only on the bit generator's stream,
 * never on the data. So the j's are drawn LOOKAHEAD steps ahead of the swap
 * that uses them, and each x[j]'s cache line is prefetched when its j is
 * drawn: many cache misses are in flight at once instead of one at a time.
 * The draws still happen in NumPy's order (i = n-1, n-2, ..., 1) and every
 * swap in its place, so the permutation and the generator's state after are
 * exactly those of Generator.shuffle / Generator.permutation. */
#include <stddef.h>

#include "gradfit.h"

#if defined(__GNUC__) || defined(__clang__)
#define GF_PREFETCH_W(p) __builtin_prefetch((const void *)(p), 1, 3)
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#define GF_PREFETCH_W(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define GF_PREFETCH_W(p) ((void)(p))
#endif

/* How many draws run ahead of the swaps (a power of two). 32 is a choice
 * in the usual 16..64 range, not tuned: enough misses in flight to cover
 * DRAM latency at a few ns per swap. */
#define LOOKAHEAD 32

/* Draws step `next`'s swap partner j into ring[], prefetches x[j], and moves
 * on to the next bound. j is drawn as NumPy's random_interval(bitgen, next):
 * the smallest all-ones mask >= next, then draws & mask until one is <= next
 * (32-bit draws while next <= 0xFFFFFFFF, else 64-bit). NEXT32 / NEXT64 are
 * expressions giving the generator's next 32-bit / 64-bit output. */
#define GF_DRAW_AHEAD(NEXT32, NEXT64)                                  \
    do {                                                               \
        uint64_t v_;                                                   \
        while ((mask >> 1) >= (uint64_t)next)                          \
            mask >>= 1;                                                \
        if ((uint64_t)next <= 0xFFFFFFFFu) {                           \
            do {                                                       \
                v_ = (uint64_t)(NEXT32) & mask;                        \
            } while (v_ > (uint64_t)next);                             \
        } else {                                                       \
            do {                                                       \
                v_ = (uint64_t)(NEXT64) & mask;                        \
            } while (v_ > (uint64_t)next);                             \
        }                                                              \
        ring[next & (LOOKAHEAD - 1)] = (int64_t)v_;                    \
        GF_PREFETCH_W(x + v_);                                         \
        next--;                                                        \
    } while (0)

/* Fisher-Yates from the end (i = n-1 .. 1, swap x[i] and x[j]) with the j's
 * drawn LOOKAHEAD steps ahead of their swap: step i reads its j from the
 * ring slot that step i - LOOKAHEAD's draw then reuses. */
#define GF_SHUFFLE_BODY(NEXT32, NEXT64)                                \
    do {                                                               \
        int64_t ring[LOOKAHEAD];                                       \
        int64_t i, k, next = n - 1;                                    \
        int64_t ahead = n - 1 < LOOKAHEAD ? n - 1 : LOOKAHEAD;         \
        uint64_t mask = smallest_mask((uint64_t)(n - 1));              \
        for (k = 0; k < ahead; k++)                                    \
            GF_DRAW_AHEAD(NEXT32, NEXT64);                             \
        for (i = n - 1; i >= 1; i--) {                                 \
            int64_t j = ring[i & (LOOKAHEAD - 1)], t;                  \
            if (next >= 1)                                             \
                GF_DRAW_AHEAD(NEXT32, NEXT64);                         \
            t = x[j];                                                  \
            x[j] = x[i];                                               \
            x[i] = t;                                                  \
        }                                                              \
    } while (0)

/* The smallest all-ones bit mask >= max. */
static inline uint64_t smallest_mask(uint64_t max)
{
    max |= max >> 1;
    max |= max >> 2;
    max |= max >> 4;
    max |= max >> 8;
    max |= max >> 16;
    max |= max >> 32;
    return max;
}

static int prepare(int64_t *x, int64_t n, int fill)
{
    int64_t k;
    if (n < 0 || (n > 0 && x == NULL))
        return GF_ERR_ARG;
    if (fill)
        for (k = 0; k < n; k++)
            x[k] = k;
    return GF_OK;
}

int gf_shuffle_i64(const gf_bitgen *bg, int64_t *x, int64_t n, int fill)
{
    int status;
    if (bg == NULL || bg->next_uint32 == NULL || bg->next_uint64 == NULL)
        return GF_ERR_ARG;
    if ((status = prepare(x, n, fill)) != GF_OK || n < 2)
        return status;
    GF_SHUFFLE_BODY(bg->next_uint32(bg->state), bg->next_uint64(bg->state));
    return GF_OK;
}

/* PCG64 and PCG64DXSM inline. Through the capsule every 32-bit draw is an
 * indirect call into NumPy; here the generator is a few registers. The
 * arithmetic is PCG's (O'Neill, pcg-random.org) as NumPy uses it: a 128-bit
 * LCG, state = state * mult + inc, with the XSL-RR output of the new state
 * (PCG64; mult 0x2360ED051FC65DA44385DF649FCCF645) or the DXSM output of the
 * old state (PCG64DXSM; the 64-bit "cheap" mult 0xDA942042E4DD58B5). A 32-bit
 * draw is the low half of a 64-bit one, its high half kept for the next
 * (has_uint32 / uinteger, as in NumPy's state dict). tests/test_shuffle.py
 * checks results and states against NumPy's. Needs a 128-bit integer type
 * (GCC and clang on 64-bit targets); elsewhere gf_shuffle_pcg64_available()
 * is 0 and callers use gf_shuffle_i64. */
#if defined(__SIZEOF_INT128__)
typedef unsigned __int128 gf_u128;

static inline uint64_t pcg_next64(gf_u128 *state, gf_u128 inc, int dxsm)
{
    const uint64_t cheap = 0xDA942042E4DD58B5ULL;
    if (dxsm) {
        gf_u128 old = *state;
        uint64_t hi = (uint64_t)(old >> 64), lo = (uint64_t)old | 1u;
        *state = old * cheap + inc;
        hi ^= hi >> 32;
        hi *= cheap;
        hi ^= hi >> 48;
        return hi * lo;
    } else {
        const gf_u128 mult = ((gf_u128)0x2360ED051FC65DA4ULL << 64) | 0x4385DF649FCCF645ULL;
        uint64_t v;
        unsigned rot;
        *state = *state * mult + inc;
        v = (uint64_t)(*state >> 64) ^ (uint64_t)*state;
        rot = (unsigned)(*state >> 122);
        return (v >> rot) | (v << ((-rot) & 63u));
    }
}

static inline uint32_t pcg_next32(gf_u128 *state, gf_u128 inc, int dxsm, int32_t *has, uint32_t *buf)
{
    uint64_t v;
    if (*has) {
        *has = 0;
        return *buf;
    }
    v = pcg_next64(state, inc, dxsm);
    *has = 1;
    *buf = (uint32_t)(v >> 32);
    return (uint32_t)v;
}

/* 64-bit outputs generated per block (two 32-bit candidates each). */
#define PCG_BLOCK 256

/* Copies NumPy's bookkeeping of the 32-bit half-word: after `used` 32-bit
 * candidates taken from this block's outputs (the block began with state
 * *st0), the state is st0 advanced by ceil(used / 2) outputs; an odd `used`
 * leaves the high half of the last output pending. */
static void pcg_settle(gf_u128 *state, gf_u128 st0, gf_u128 inc, int dxsm, const uint32_t *cand,
                       int c0, int64_t used, int32_t *has, uint32_t *buf)
{
    int64_t k;
    *state = st0;
    for (k = 0; k < (used + 1) / 2; k++)
        (void)pcg_next64(state, inc, dxsm);
    if (used % 2) {
        *has = 1;
        *buf = cand[c0 + used];          /* the high half, not yet drawn */
    } else {
        *has = 0;
        if (used > 0)
            *buf = cand[c0 + used - 1];  /* NumPy leaves the last half drawn */
    }
}

/* Fisher-Yates with the generator inline, block by block: a block of raw
 * 32-bit candidates is generated first (a tight loop, no branches), then
 * turned into swap partners without a mispredicted branch per rejection
 * (each candidate is kept, or not, by adding 0 or 1 to a count), then the
 * swaps run with their loads prefetched LOOKAHEAD ahead. The draws, the
 * partners and the swaps are exactly those of the draw-by-draw loop. */
static void shuffle_pcg(gf_pcg64 *g, int64_t *x, int64_t n, const int dxsm)
{
    gf_u128 state = ((gf_u128)g->state_hi << 64) | g->state_lo;
    const gf_u128 inc = ((gf_u128)g->inc_hi << 64) | g->inc_lo;
    int32_t has = g->has_uint32;
    uint32_t buf = g->uinteger;
    uint32_t cand[2 * PCG_BLOCK + 1];
    int64_t js[2 * PCG_BLOCK + 1];
    int64_t next = n - 1, s = n - 1;      /* the next bound to draw for; the next swap */

    if ((uint64_t)(n - 1) > 0xFFFFFFFFu) {
        /* 64-bit draws: the draw-by-draw loop (NumPy's 64-bit draw ignores
         * the buffered half-word) */
        GF_SHUFFLE_BODY(pcg_next32(&state, inc, dxsm, &has, &buf), pcg_next64(&state, inc, dxsm));
    } else {
        while (next >= 1) {
            const gf_u128 st0 = state;
            int c0 = 0, nc = 0, c = 0;
            int64_t cnt = 0, q;
            if (has) {                     /* NumPy's next 32-bit draw is the pending half */
                cand[nc++] = buf;
                c0 = 1;
            }
            for (q = 0; q < PCG_BLOCK; q++) {
                uint64_t v = pcg_next64(&state, inc, dxsm);
                cand[nc++] = (uint32_t)v;
                cand[nc++] = (uint32_t)(v >> 32);
            }
            while (c < nc && next >= 1) {
                /* while next > mask/2 the mask is constant */
                const uint64_t mask = smallest_mask((uint64_t)next), low = mask >> 1;
                for (; c < nc && (uint64_t)next > low; c++) {
                    uint64_t v = (uint64_t)cand[c] & mask;
                    int64_t ok = v <= (uint64_t)next;
                    js[cnt] = (int64_t)v;
                    cnt += ok;
                    next -= ok;
                }
            }
            for (q = 0; q < cnt && q < LOOKAHEAD; q++)
                GF_PREFETCH_W(x + js[q]);
            for (q = 0; q < cnt; q++, s--) {
                int64_t j = js[q], t;
                if (q + LOOKAHEAD < cnt)
                    GF_PREFETCH_W(x + js[q + LOOKAHEAD]);
                t = x[j];
                x[j] = x[s];
                x[s] = t;
            }
            /* (a block takes at least one candidate, the pending half if any) */
            if (c < nc) {
                pcg_settle(&state, st0, inc, dxsm, cand, c0, c - c0, &has, &buf);
            } else {
                has = 0;
                buf = cand[nc - 1];
            }
        }
    }
    g->state_hi = (uint64_t)(state >> 64);
    g->state_lo = (uint64_t)state;
    g->has_uint32 = has;
    g->uinteger = buf;
}

static void shuffle_pcg64(gf_pcg64 *g, int64_t *x, int64_t n) { shuffle_pcg(g, x, n, 0); }
static void shuffle_pcg64dxsm(gf_pcg64 *g, int64_t *x, int64_t n) { shuffle_pcg(g, x, n, 1); }

int gf_shuffle_pcg64_available(void) { return 1; }

int gf_shuffle_pcg64(gf_pcg64 *g, int64_t *x, int64_t n, int fill)
{
    int status;
    if (g == NULL)
        return GF_ERR_ARG;
    if ((status = prepare(x, n, fill)) != GF_OK || n < 2)
        return status;
    if (g->dxsm)
        shuffle_pcg64dxsm(g, x, n);
    else
        shuffle_pcg64(g, x, n);
    return GF_OK;
}
#else
int gf_shuffle_pcg64_available(void) { return 0; }

int gf_shuffle_pcg64(gf_pcg64 *g, int64_t *x, int64_t n, int fill)
{
    (void)g; (void)x; (void)n; (void)fill;
    return GF_ERR_ARG;
}
#endif

/* ------------------------------------------------------------------------
 * gradfit's epoch order: Sanders' bucketed shuffle (P. Sanders, "Random
 * permutations on distributed, external and hierarchical memory", IPL 1998),
 * optionally moving rows of data with the order. docs/shuffle.md has the
 * proof of uniformity; tests/test_shuffle.py a pure-NumPy replay.
 *
 *   k = gf_order_buckets(n) buckets (a power of two, b = log2 k bits; the
 *   caller may give another k, for tests).
 *   1. Bucket ids: if k > 1, element i gets bucket piece_i >> (16 - b), where
 *      piece_i is 16-bit piece (i % 4) of 64-bit output (i / 4), pieces
 *      counted from the low end: ceil(n / 4) outputs, the rest of the last
 *      one discarded. If k == 1, no draws.
 *   2. Stable scatter: the elements, in order 0..n-1, are appended to their
 *      bucket; buckets are laid out 0..k-1 (order[] then holds source rows).
 *   3. Fisher-Yates of each bucket, bucket 0 first: for i = m-1 down to 1
 *      (m the bucket's size), j uniform in [0, i], swap slots i and j. j is
 *      drawn by Lemire's method from 32-bit draws, which are the low then
 *      the high half of successive 64-bit outputs (range r = i + 1:
 *      p = x * r; if low32(p) < r, t = (2^32 - r) mod r and while
 *      low32(p) < t redraw; j = p >> 32). A half left at the end is
 *      discarded. (Buckets of more than 2^32 rows would use whole 64-bit
 *      outputs and 128-bit products the same way; they cannot happen below
 *      2^44 rows.)
 * The generator's buffered 32-bit half of NumPy's state dict (has_uint32)
 * is neither read nor changed: every draw is a whole 64-bit output, exactly
 * bit_generator.random_raw().
 * ------------------------------------------------------------------------ */
#include <stdlib.h>
#include <string.h>

/* the largest bucket shuffled as a uint16 arrangement (indices 0..65535);
 * larger buckets (n > 2^28 with 4096 buckets, or a forced small k) are
 * shuffled in place */
#define GF_ORDER_PERM_MAX 65536
/* the most scratch (arrangement + one bucket's rows) step 3 allocates */
#define GF_ORDER_SCRATCH_MAX ((int64_t)8 << 20)

/* the most buckets whose ids are counted in four uint32 histograms (16 KiB) */
#define GF_ORDER_HIST4_MAX 1024

int64_t gf_order_buckets(int64_t n)
{
    int64_t k = 1, want = (n + GF_ORDER_BUCKET_ROWS - 1) / GF_ORDER_BUCKET_ROWS;
    while (k < want && k < GF_ORDER_MAX_BUCKETS)
        k <<= 1;
    return k;
}

/* the draws: inline PCG64 (kind 0), PCG64DXSM (kind 1) or bitgen_t (kind 2) */
typedef struct order_rng {
#if defined(__SIZEOF_INT128__)
    gf_u128 state, inc;
#endif
    const gf_bitgen *bg;
    uint32_t half;
    int has_half;
} order_rng;

#if defined(__GNUC__) || defined(__clang__)
#define GF_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define GF_ALWAYS_INLINE static inline
#endif

GF_ALWAYS_INLINE uint64_t order_next64(order_rng *r, const int kind)
{
#if defined(__SIZEOF_INT128__)
    if (kind != 2)
        return pcg_next64(&r->state, r->inc, kind);
#endif
    return r->bg->next_uint64(r->bg->state);
}

GF_ALWAYS_INLINE uint32_t order_next32(order_rng *r, const int kind)
{
    uint64_t v;
    if (r->has_half) {
        r->has_half = 0;
        return r->half;
    }
    v = order_next64(r, kind);
    r->half = (uint32_t)(v >> 32);
    r->has_half = 1;
    return (uint32_t)v;
}

/* high 64 bits of a * b */
static inline uint64_t mulhi64(uint64_t a, uint64_t b, uint64_t *lo)
{
#if defined(__SIZEOF_INT128__)
    gf_u128 p = (gf_u128)a * b;
    *lo = (uint64_t)p;
    return (uint64_t)(p >> 64);
#else
    uint64_t a0 = a & 0xFFFFFFFFu, a1 = a >> 32, b0 = b & 0xFFFFFFFFu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xFFFFFFFFu) + (p10 & 0xFFFFFFFFu);
    *lo = (mid << 32) | (p00 & 0xFFFFFFFFu);
    return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

/* j uniform in [0, r - 1], r >= 1 (Lemire 2019, "Fast random integer
 * generation in an interval") */
GF_ALWAYS_INLINE uint64_t order_bounded(order_rng *r, uint64_t range, const int kind)
{
    if (range <= 0xFFFFFFFFu) {
        const uint32_t r32 = (uint32_t)range;
        uint64_t p = (uint64_t)order_next32(r, kind) * r32;
        uint32_t low = (uint32_t)p;
        if (low < r32) {
            const uint32_t t = (uint32_t)(-r32) % r32;
            while (low < t) {
                p = (uint64_t)order_next32(r, kind) * r32;
                low = (uint32_t)p;
            }
        }
        return p >> 32;
    } else {
        uint64_t lo, hi = mulhi64(order_next64(r, kind), range, &lo);
        if (lo < range) {
            const uint64_t t = (0 - range) % range;
            while (lo < t)
                hi = mulhi64(order_next64(r, kind), range, &lo);
        }
        return hi;
    }
}

GF_ALWAYS_INLINE void copy_row(char *dst, const char *src, int64_t bytes)
{
    switch (bytes) {
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, (size_t)bytes);
    }
}

static void swap_bytes(char *a, char *b, int64_t bytes)
{
    char t[256];
    while (bytes > 0) {
        size_t c = bytes > 256 ? 256 : (size_t)bytes;
        memcpy(t, a, c);
        memcpy(a, b, c);
        memcpy(b, t, c);
        a += c;
        b += c;
        bytes -= (int64_t)c;
    }
}

GF_ALWAYS_INLINE void swap_row(char *base, int64_t bytes, int64_t i, int64_t j)
{
    char *a = base + i * bytes, *b = base + j * bytes;
    if (bytes == 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        memcpy(a, &y, 8);
        memcpy(b, &x, 8);
    } else if (bytes == 4) {
        uint32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        memcpy(a, &y, 4);
        memcpy(b, &x, 4);
    } else {
        swap_bytes(a, b, bytes);
    }
}

/* Walks the cache lines of the next bucket's slots (in order[] and in each
 * rows[q].dst) one line per call, prefetching them while the current bucket
 * is shuffled: the next bucket then comes from memory at streaming speed
 * instead of one random miss at a time. */
typedef struct next_lines {
    const char *p[GF_ORDER_MAX_ROWS + 1], *end[GF_ORDER_MAX_ROWS + 1];
    int n, at;
} next_lines;

static void next_lines_set(next_lines *nl, const int64_t *order, const gf_rows *rows, int n_rows,
                           int64_t s, int64_t m)
{
    int q;
    nl->n = 0;
    nl->at = 0;
    if (m <= 0)
        return;
    if (order != NULL) {
        nl->p[nl->n] = (const char *)(order + s);
        nl->end[nl->n] = (const char *)(order + s + m);
        nl->n++;
    }
    for (q = 0; q < n_rows; q++) {
        nl->p[nl->n] = (const char *)rows[q].dst + s * rows[q].row_bytes;
        nl->end[nl->n] = nl->p[nl->n] + m * rows[q].row_bytes;
        nl->n++;
    }
}

GF_ALWAYS_INLINE void next_lines_step(next_lines *nl)
{
    if (nl->at < nl->n) {
        GF_PREFETCH_W(nl->p[nl->at]);
        nl->p[nl->at] += 64;
        if (nl->p[nl->at] >= nl->end[nl->at])
            nl->at++;
    }
}

GF_ALWAYS_INLINE void order_body(order_rng *rp, const int kind, int64_t n, int64_t *order,
                                 const gf_rows *rows, int n_rows, uint16_t *ids, int64_t k)
{
    int64_t pos[GF_ORDER_MAX_BUCKETS + 1];
    order_rng rl = *rp, *r = &rl;      /* a local copy: the state stays in registers */
    next_lines nl;
    int bits = 0, q;
    int64_t i, c;
    while (((int64_t)1 << bits) < k)
        bits++;
    /* 1. bucket ids and sizes */
    for (c = 0; c <= k; c++)
        pos[c] = 0;
    if (k > 1) {
        const int shift = 16 - bits;
/* ids[i] := row i's bucket (four to a 64-bit output), each counted by COUNT(piece, id) */
#define GF_ORDER_IDS(COUNT)                                                    \
        for (i = 0; i + 4 <= n; i += 4) {                                      \
            uint64_t v = order_next64(r, kind);                                \
            uint16_t a = (uint16_t)((v & 0xFFFFu) >> shift);                   \
            uint16_t b = (uint16_t)(((v >> 16) & 0xFFFFu) >> shift);           \
            uint16_t d = (uint16_t)(((v >> 32) & 0xFFFFu) >> shift);           \
            uint16_t e = (uint16_t)((v >> 48) >> shift);                       \
            ids[i] = a; ids[i + 1] = b; ids[i + 2] = d; ids[i + 3] = e;        \
            COUNT(0, a); COUNT(1, b); COUNT(2, d); COUNT(3, e);                \
        }                                                                      \
        if (i < n) {                                                           \
            uint64_t v = order_next64(r, kind);                                \
            for (; i < n; i++, v >>= 16) {                                     \
                uint16_t a = (uint16_t)((v & 0xFFFFu) >> shift);               \
                ids[i] = a;                                                    \
                COUNT(0, a);                                                   \
            }                                                                  \
        }
#define GF_COUNT_HIST4(q, x) h[q][x]++
#define GF_COUNT_POS(q, x) pos[(x) + 1]++
        if (k <= GF_ORDER_HIST4_MAX && n <= (int64_t)0xFFFFFFFF) {
            /* four histograms, one per piece of an output: equal ids close
             * together do not wait on each other's increments */
            uint32_t h[4][GF_ORDER_HIST4_MAX];
            memset(h, 0, sizeof h);
            GF_ORDER_IDS(GF_COUNT_HIST4)
            for (c = 0; c < k; c++)
                pos[c + 1] = (int64_t)h[0][c] + h[1][c] + h[2][c] + h[3][c];
        } else {        /* (64 KiB more of stack for 4096 buckets: one count) */
            GF_ORDER_IDS(GF_COUNT_POS)
        }
#undef GF_COUNT_HIST4
#undef GF_COUNT_POS
#undef GF_ORDER_IDS
        for (c = 1; c <= k; c++)
            pos[c] += pos[c - 1];
        /* 2. stable scatter (pos[c]: the next free slot of bucket c) */
        if (n_rows == 0) {
            for (i = 0; i < n; i++)
                order[pos[ids[i]]++] = i;
        } else if (n_rows == 2 && rows[0].row_bytes == 8 && rows[1].row_bytes == 8) {
            const char *s0 = (const char *)rows[0].src, *s1 = (const char *)rows[1].src;
            char *d0 = (char *)rows[0].dst, *d1 = (char *)rows[1].dst;
            if (order != NULL) {
                for (i = 0; i < n; i++) {
                    int64_t to = pos[ids[i]]++;
                    order[to] = i;
                    memcpy(d0 + to * 8, s0 + i * 8, 8);
                    memcpy(d1 + to * 8, s1 + i * 8, 8);
                }
            } else {
                for (i = 0; i < n; i++) {
                    int64_t to = pos[ids[i]]++;
                    memcpy(d0 + to * 8, s0 + i * 8, 8);
                    memcpy(d1 + to * 8, s1 + i * 8, 8);
                }
            }
        } else {
            for (i = 0; i < n; i++) {
                int64_t to = pos[ids[i]]++;
                if (order != NULL)
                    order[to] = i;
                for (q = 0; q < n_rows; q++)
                    copy_row((char *)rows[q].dst + to * rows[q].row_bytes,
                             (const char *)rows[q].src + i * rows[q].row_bytes, rows[q].row_bytes);
            }
        }
        /* pos[c] is now the end of bucket c (= the start of c + 1) */
        for (c = k; c > 0; c--)
            pos[c] = pos[c - 1];
        pos[0] = 0;
    } else {
        if (order != NULL)
            for (i = 0; i < n; i++)
                order[i] = i;
        for (q = 0; q < n_rows; q++)
            memcpy(rows[q].dst, rows[q].src, (size_t)(n * rows[q].row_bytes));
        pos[1] = n;
    }
    /* 3. Fisher-Yates within each bucket [pos[c], pos[c + 1]), the next
     * bucket's lines prefetched meanwhile. A bucket of 2..GF_ORDER_PERM_MAX
     * rows is shuffled as a uint16 arrangement perm[0..m) = 0..m-1 (in L1:
     * the same draws, the same swaps), then its rows are put in that order
     * once: copied to a scratch area and gathered back, dst[t] =
     * scratch[perm[t]], which is the arrangement the swaps in place give.
     * Larger buckets, or no scratch (too wide rows, no memory), swap in
     * place. */
    {
        int64_t max_m = 0, rec = order != NULL ? 8 : 0, perm_bytes, scratch_bytes = 0;
        char *scratch = NULL;
        uint16_t *perm = NULL;
        for (c = 0; c < k; c++)
            if (pos[c + 1] - pos[c] > max_m)
                max_m = pos[c + 1] - pos[c];
        for (q = 0; q < n_rows; q++)
            rec += rows[q].row_bytes;
        if (max_m > GF_ORDER_PERM_MAX)
            max_m = GF_ORDER_PERM_MAX;
        perm_bytes = (max_m * 2 + 63) & ~(int64_t)63;
        if (n_rows > 0 && max_m >= 2 && rec <= (GF_ORDER_SCRATCH_MAX - perm_bytes) / max_m) {
            scratch_bytes = perm_bytes + max_m * rec;
            scratch = (char *)malloc((size_t)scratch_bytes + 64);
        }
        if (scratch != NULL) {
            char *al = scratch + ((64 - ((uintptr_t)scratch & 63)) & 63);
            perm = (uint16_t *)al;
        }
        next_lines_set(&nl, order, rows, n_rows, 0, pos[1]);
        while (nl.at < nl.n)
            next_lines_step(&nl);
        for (c = 0; c < k; c++) {
            const int64_t s = pos[c], m = pos[c + 1] - pos[c];
            int64_t *o = order != NULL ? order + s : NULL;
            if (c + 1 < k) {
                next_lines_set(&nl, order, rows, n_rows, pos[c + 1], pos[c + 2] - pos[c + 1]);
                while (nl.at < nl.n)
                    next_lines_step(&nl);
            }
            if (m < 2)
                continue;
            if (perm != NULL && m <= GF_ORDER_PERM_MAX) {
                char *rs = (char *)perm + perm_bytes;      /* the bucket's rows, copied */
                for (i = 0; i < m; i++)
                    perm[i] = (uint16_t)i;
                if (n_rows == 2 && rows[0].row_bytes == 8 && rows[1].row_bytes == 8 && o == NULL) {
                    /* W1's rows: copied as 16-byte records while the
                     * arrangement is shuffled, gathered one line a row */
                    uint64_t *a = (uint64_t *)rows[0].dst + s, *b = (uint64_t *)rows[1].dst + s;
                    uint64_t *ab = (uint64_t *)rs;
                    int64_t t = 0;
                    for (i = m - 1; i >= 1; i--, t++) {
                        int64_t j = (int64_t)order_bounded(r, (uint64_t)i + 1, kind);
                        uint16_t u = perm[i];
                        perm[i] = perm[j];
                        perm[j] = u;
                        ab[2 * t] = a[t];
                        ab[2 * t + 1] = b[t];
                    }
                    ab[2 * t] = a[t];
                    ab[2 * t + 1] = b[t];
                    for (i = 0; i < m; i++) {
                        const uint64_t *rp2 = ab + 2 * (int64_t)perm[i];
                        a[i] = rp2[0];
                        b[i] = rp2[1];
                    }
                } else {
                    for (i = m - 1; i >= 1; i--) {
                        int64_t j = (int64_t)order_bounded(r, (uint64_t)i + 1, kind);
                        uint16_t u = perm[i];
                        perm[i] = perm[j];
                        perm[j] = u;
                    }
                    if (o != NULL) {
                        int64_t *os = (int64_t *)rs;
                        memcpy(os, o, (size_t)m * 8);
                        for (i = 0; i < m; i++)
                            o[i] = os[perm[i]];
                    }
                    for (q = 0; q < n_rows; q++) {
                        const int64_t rb = rows[q].row_bytes;
                        char *d = (char *)rows[q].dst + s * rb;
                        memcpy(rs, d, (size_t)(m * rb));
                        for (i = 0; i < m; i++)     /* rb is loop-invariant: unswitched */
                            copy_row(d + i * rb, rs + (int64_t)perm[i] * rb, rb);
                    }
                }
            } else if (n_rows == 0) {
                for (i = m - 1; i >= 1; i--) {
                    int64_t j = (int64_t)order_bounded(r, (uint64_t)i + 1, kind), t = o[i];
                    o[i] = o[j];
                    o[j] = t;
                }
            } else {     /* rows in place: buckets beyond the arrangement's reach */
                for (i = m - 1; i >= 1; i--) {
                    int64_t j = (int64_t)order_bounded(r, (uint64_t)i + 1, kind);
                    if (o != NULL) {
                        const int64_t t = o[i];
                        o[i] = o[j];
                        o[j] = t;
                    }
                    for (q = 0; q < n_rows; q++)
                        swap_row((char *)rows[q].dst + s * rows[q].row_bytes, rows[q].row_bytes, i, j);
                }
            }
        }
        free(scratch);
    }
    *rp = rl;
}

/* k: 0 for gf_order_buckets(n), else a power of two in [1, GF_ORDER_MAX_BUCKETS] */
static int order_check(int64_t n, const int64_t *order, const gf_rows *rows, int n_rows, const uint16_t *ids,
                       int64_t *k)
{
    int q;
    if (*k == 0)
        *k = gf_order_buckets(n);
    if (*k < 1 || *k > GF_ORDER_MAX_BUCKETS || (*k & (*k - 1)) != 0)
        return GF_ERR_ARG;
    if (n < 0 || n_rows < 0 || n_rows > GF_ORDER_MAX_ROWS || (n > 0 && order == NULL && n_rows == 0))
        return GF_ERR_ARG;
    if (n > 0 && *k > 1 && ids == NULL)
        return GF_ERR_ARG;
    for (q = 0; q < n_rows; q++)
        if (rows == NULL || rows[q].row_bytes < 1 || (n > 0 && (rows[q].src == NULL || rows[q].dst == NULL)))
            return GF_ERR_ARG;
    return GF_OK;
}

static void order_bitgen(order_rng *r, int64_t n, int64_t *order, const gf_rows *rows, int n_rows,
                         uint16_t *ids, int64_t k)
{
    order_body(r, 2, n, order, rows, n_rows, ids, k);
}

int gf_order_bitgen(const gf_bitgen *bg, int64_t n, int64_t *order, const gf_rows *rows, int n_rows,
                    uint16_t *ids, int64_t k)
{
    order_rng r;
    int status;
    if (bg == NULL || bg->next_uint64 == NULL)
        return GF_ERR_ARG;
    if ((status = order_check(n, order, rows, n_rows, ids, &k)) != GF_OK)
        return status;
    memset(&r, 0, sizeof r);
    r.bg = bg;
    order_bitgen(&r, n, order, rows, n_rows, ids, k);
    return GF_OK;
}

#if defined(__SIZEOF_INT128__)
static void order_pcg64(order_rng *r, int64_t n, int64_t *order, const gf_rows *rows, int n_rows,
                        uint16_t *ids, int64_t k)
{
    order_body(r, 0, n, order, rows, n_rows, ids, k);
}

static void order_pcg64dxsm(order_rng *r, int64_t n, int64_t *order, const gf_rows *rows, int n_rows,
                            uint16_t *ids, int64_t k)
{
    order_body(r, 1, n, order, rows, n_rows, ids, k);
}

int gf_order_pcg64(gf_pcg64 *g, int64_t n, int64_t *order, const gf_rows *rows, int n_rows, uint16_t *ids,
                   int64_t k)
{
    order_rng r;
    int status;
    if (g == NULL)
        return GF_ERR_ARG;
    if ((status = order_check(n, order, rows, n_rows, ids, &k)) != GF_OK)
        return status;
    memset(&r, 0, sizeof r);
    r.state = ((gf_u128)g->state_hi << 64) | g->state_lo;
    r.inc = ((gf_u128)g->inc_hi << 64) | g->inc_lo;
    if (g->dxsm)
        order_pcg64dxsm(&r, n, order, rows, n_rows, ids, k);
    else
        order_pcg64(&r, n, order, rows, n_rows, ids, k);
    g->state_hi = (uint64_t)(r.state >> 64);
    g->state_lo = (uint64_t)r.state;
    return GF_OK;
}
#else
int gf_order_pcg64(gf_pcg64 *g, int64_t n, int64_t *order, const gf_rows *rows, int n_rows, uint16_t *ids,
                   int64_t k)
{
    (void)g; (void)n; (void)order; (void)rows; (void)n_rows; (void)ids; (void)k;
    return GF_ERR_ARG;
}
#endif
