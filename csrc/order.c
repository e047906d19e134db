/* gradfit's epoch order: Sanders' bucketed shuffle (P. Sanders, "Random
 * permutations on distributed, external and hierarchical memory", IPL 1998),
 * optionally moving rows of data with the order. docs/order.md has the proof
 * of uniformity; tests/test_shuffle.py replays the draws in plain Python.
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
 *
 * Steps 1 and 2 read the data once in sequence; step 3 shuffles one bucket
 * (about GF_ORDER_BUCKET_ROWS rows) at a time while it sits in cache, and
 * prefetches the next bucket meanwhile. When rows move, step 3 shuffles a
 * uint16 arrangement of the bucket (in L1) with exactly the draws and swaps
 * above and puts the bucket's rows in that arrangement once, which is what
 * the swaps in place would give (for training's rows, each slot as soon as
 * its swap fixes it). The inline PCGs draw step 1's outputs from two chains
 * a jump of two apart: the same outputs, in the same order. */
#include <stdlib.h>
#include <string.h>

#include "gradfit.h"
#include "tuning.h"               /* GF_ORDER_*: the order's tunables */

#if defined(__GNUC__) || defined(__clang__)
#define GF_PREFETCH_W(p) __builtin_prefetch((const void *)(p), 1, 3)
#define GF_ALWAYS_INLINE static inline __attribute__((always_inline))
#define GF_NOINLINE __attribute__((noinline))
#define GF_HOT_ALIGN __attribute__((aligned(64)))
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <xmmintrin.h>
#define GF_PREFETCH_W(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define GF_ALWAYS_INLINE static __forceinline
#define GF_NOINLINE __declspec(noinline)
#define GF_HOT_ALIGN
#else
#define GF_PREFETCH_W(p) ((void)(p))
#define GF_ALWAYS_INLINE static inline
#define GF_NOINLINE
#define GF_HOT_ALIGN
#endif

/* The functions that hold the hot loops start on a cache line
 * (GF_HOT_ALIGN): otherwise where they fall in the library moves their
 * loops across fetch blocks, and their speed with it (~10%). */

/* Functions marked GF_ALWAYS_INLINE take some arguments that their callers
 * pass as constants (the generator's kind, a row width, a number of arrays,
 * a NULL order): each call site becomes a loop specialised to them. */

int64_t gf_order_buckets(int64_t n)
{
    int64_t k = 1, want = (n + GF_ORDER_BUCKET_ROWS - 1) / GF_ORDER_BUCKET_ROWS;
    while (k < want && k < GF_ORDER_MAX_BUCKETS)
        k <<= 1;
    return k;
}

/* --- the draws --- */

/* PCG64 and PCG64DXSM inline: through the capsule every draw is an indirect
 * call into NumPy; here the generator is a few registers. The arithmetic is
 * PCG's (O'Neill, pcg-random.org) as NumPy uses it: a 128-bit LCG, state =
 * state * mult + inc, with the XSL-RR output of the new state (PCG64; mult
 * 0x2360ED051FC65DA44385DF649FCCF645) or the DXSM output of the old state
 * (PCG64DXSM; the 64-bit "cheap" mult 0xDA942042E4DD58B5). It needs a
 * 128-bit integer type (GCC and clang on 64-bit targets); elsewhere
 * gf_order_pcg64_available() is 0 and callers draw through bitgen_t. */
#if defined(__SIZEOF_INT128__)
typedef unsigned __int128 gf_u128;

static inline gf_u128 pcg_mult(int dxsm)
{
    return dxsm ? (gf_u128)0xDA942042E4DD58B5ULL
                : ((gf_u128)0x2360ED051FC65DA4ULL << 64) | 0x4385DF649FCCF645ULL;
}

/* the output of state s: PCG64's XSL-RR (of the state after a step),
 * PCG64DXSM's DXSM (of the state before it) */
static inline uint64_t pcg_out(gf_u128 s, int dxsm)
{
    if (dxsm) {
        const uint64_t cheap = 0xDA942042E4DD58B5ULL;
        uint64_t hi = (uint64_t)(s >> 64), lo = (uint64_t)s | 1u;
        hi ^= hi >> 32;
        hi *= cheap;
        hi ^= hi >> 48;
        return hi * lo;
    } else {
        const uint64_t v = (uint64_t)(s >> 64) ^ (uint64_t)s;
        const unsigned rot = (unsigned)(s >> 122);
        return (v >> rot) | (v << ((-rot) & 63u));
    }
}

/* one output, the generator stepped */
static inline uint64_t pcg_next64(gf_u128 *state, gf_u128 inc, int dxsm)
{
    const gf_u128 old = *state;
    *state = old * pcg_mult(dxsm) + inc;
    return pcg_out(dxsm ? old : *state, dxsm);
}

/* Two outputs at a time from two LCG chains, each stepping over the
 * other's state (s -> s * mult^2 + inc * (mult + 1), PCG's jump ahead):
 * the same outputs in the same order as pcg_next64, but two independent
 * multiply chains instead of one, so that they overlap. a and b are the
 * states whose outputs come next (PCG64: the states the outputs are taken
 * of, after the step; PCG64DXSM: before it). */
typedef struct pcg_pair {
    gf_u128 a, b, m2, c2;
} pcg_pair;

/* the pair that continues from generator state s */
static inline void pcg_pair_init(pcg_pair *p, gf_u128 s, gf_u128 inc, int dxsm)
{
    const gf_u128 m = pcg_mult(dxsm);
    p->m2 = m * m;
    p->c2 = inc * (m + 1);
    p->a = dxsm ? s : s * m + inc;
    p->b = p->a * m + inc;
}

/* the next two outputs; *after: the generator's state once both are drawn */
static inline void pcg_pair_next(pcg_pair *p, int dxsm, uint64_t *o1, uint64_t *o2, gf_u128 *after)
{
    *o1 = pcg_out(p->a, dxsm);
    *o2 = pcg_out(p->b, dxsm);
    p->a = p->a * p->m2 + p->c2;
    *after = dxsm ? p->a : p->b;
    p->b = p->b * p->m2 + p->c2;
}
#endif

/* The generator as the order draws from it: inline PCG64 (kind 0),
 * PCG64DXSM (kind 1) or bitgen_t (kind 2), and the pending high half of the
 * last 64-bit output for step 3's 32-bit draws. */
typedef struct order_rng {
#if defined(__SIZEOF_INT128__)
    gf_u128 state, inc;
#endif
    const gf_bitgen *bg;
    uint32_t half;
    int has_half;
} order_rng;

GF_ALWAYS_INLINE uint64_t order_next64(order_rng *r, const int kind)
{
#if defined(__SIZEOF_INT128__)
    if (kind != 2)
        return pcg_next64(&r->state, r->inc, kind);
#else
    (void)kind;
#endif
    return r->bg->next_uint64(r->bg->state);
}

/* a 32-bit draw: the low, then the high half of a 64-bit output */
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

/* high 64 bits of a * b; *lo := the low 64 */
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

/* j uniform in [0, range - 1], range >= 1 (Lemire 2019, "Fast random
 * integer generation in an interval"): 32-bit draws for ranges below 2^32,
 * else 64-bit ones */
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

/* --- the rows moved with the order --- */

/* The moved arrays, copied out of gf_rows into locals of their own: stores
 * through char pointers could otherwise alias gf_rows and force a reload of
 * every pointer on every row. n: how many arrays; w: each one's row width
 * in bytes; width: their common width if they all have one, else 0. */
typedef struct moved {
    const char *src[GF_ORDER_MAX_ROWS];
    char *dst[GF_ORDER_MAX_ROWS];
    int64_t w[GF_ORDER_MAX_ROWS];
    int n;
    int64_t width;
} moved;

/* The shapes of moved rows that get loops of their own, as (number of
 * arrays, common row width): one value a row of 1 to 3 arrays in float32
 * or float64, which is what training moves (X of one column, y, and
 * sample weights when given; shuffling.COPY_MAX_ROW_BYTES). Every other
 * shape takes the general loops, with the same results. */
#define GF_ORDER_SHAPES(X) X(1, 4) X(1, 8) X(2, 4) X(2, 8) X(3, 4) X(3, 8)

/* dst := src, one row of `bytes` bytes: with a constant `bytes` one load
 * and one store; a variable one takes a short chain of compares (a jump
 * table's indirect branch costs more when widths alternate row by row) */
GF_ALWAYS_INLINE void copy_row(char *dst, const char *src, int64_t bytes)
{
    switch (bytes) {
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, (size_t)bytes);
    }
}

/* rows i and j of base (`bytes` bytes each) swapped */
GF_ALWAYS_INLINE void swap_row(char *base, int64_t bytes, int64_t i, int64_t j)
{
    char t[256], *a = base + i * bytes, *b = base + j * bytes;
    while (bytes > 0) {
        const int64_t c = bytes > 256 ? 256 : bytes;
        copy_row(t, a, c);
        copy_row(a, b, c);
        copy_row(b, t, c);
        a += c;
        b += c;
        bytes -= c;
    }
}

/* --- step 1: bucket ids --- */

/* ids[i] := element i's bucket (the top `bits` bits of its 16-bit piece,
 * four pieces to a 64-bit output), counted in h[piece][id] when h is given
 * (four histograms), else in count[id + 1]. */
GF_ALWAYS_INLINE void draw_ids(order_rng *r, const int kind, int64_t n, int bits, uint16_t *ids,
                               uint32_t (*h)[GF_ORDER_HIST4_MAX], int64_t *count)
{
    const int shift = 16 - bits;
    int64_t i = 0;
    int p;
#if defined(__SIZEOF_INT128__)
    if (kind != 2 && n >= 16) {        /* two outputs a step from two chains */
        pcg_pair pp;
        gf_u128 after = r->state;
        pcg_pair_init(&pp, r->state, r->inc, kind);
        for (; i + 8 <= n; i += 8) {
            uint64_t v[2];
            int e;
            pcg_pair_next(&pp, kind, &v[0], &v[1], &after);
            for (e = 0; e < 2; e++)
                for (p = 0; p < 4; p++) {
                    const uint16_t id = (uint16_t)(((v[e] >> (16 * p)) & 0xFFFFu) >> shift);
                    ids[i + 4 * e + p] = id;
                    if (h != NULL)
                        h[p][id]++;
                    else
                        count[id + 1]++;
                }
        }
        r->state = after;
    }
#endif
    for (; i + 4 <= n; i += 4) {
        const uint64_t v = order_next64(r, kind);
        for (p = 0; p < 4; p++) {
            const uint16_t id = (uint16_t)(((v >> (16 * p)) & 0xFFFFu) >> shift);
            ids[i + p] = id;
            if (h != NULL)
                h[p][id]++;
            else
                count[id + 1]++;
        }
    }
    if (i < n) {
        uint64_t v = order_next64(r, kind);
        for (; i < n; i++, v >>= 16) {
            const uint16_t id = (uint16_t)((v & 0xFFFFu) >> shift);
            ids[i] = id;
            if (h != NULL)
                h[0][id]++;
            else
                count[id + 1]++;
        }
    }
}

/* draw_ids for the inline generators, out of line: in a function of its
 * own, the pair of chains does not take registers from steps 2 and 3 */
#if defined(__SIZEOF_INT128__)
#define GF_ORDER_DRAW_IDS_FN(NAME, KIND)                                                           \
    static GF_NOINLINE GF_HOT_ALIGN void NAME(order_rng *r, int64_t n, int bits, uint16_t *ids,   \
                                             uint32_t (*h)[GF_ORDER_HIST4_MAX], int64_t *count) \
    {                                                                                              \
        if (h != NULL)                                                                             \
            draw_ids(r, KIND, n, bits, ids, h, NULL);                                              \
        else                                                                                       \
            draw_ids(r, KIND, n, bits, ids, NULL, count);                                          \
    }
GF_ORDER_DRAW_IDS_FN(draw_ids_pcg64, 0)
GF_ORDER_DRAW_IDS_FN(draw_ids_dxsm, 1)
#undef GF_ORDER_DRAW_IDS_FN
#endif

GF_ALWAYS_INLINE void draw_ids_any(order_rng *r, const int kind, int64_t n, int bits, uint16_t *ids,
                                   uint32_t (*h)[GF_ORDER_HIST4_MAX], int64_t *count)
{
#if defined(__SIZEOF_INT128__)
    if (kind == 0) {
        draw_ids_pcg64(r, n, bits, ids, h, count);
        return;
    }
    if (kind == 1) {
        draw_ids_dxsm(r, n, bits, ids, h, count);
        return;
    }
#endif
    draw_ids(r, kind, n, bits, ids, h, count);
}

/* pos[c + 1] := the size of bucket c, c = 0..k-1 (pos[0] = 0) */
GF_ALWAYS_INLINE void bucket_ids(order_rng *r, const int kind, int64_t n, int64_t k, int bits, uint16_t *ids,
                                 int64_t *pos)
{
    int64_t c;
    for (c = 0; c <= k; c++)
        pos[c] = 0;
    if (k <= GF_ORDER_HIST4_MAX && n <= (int64_t)0xFFFFFFFF) {
        uint32_t h[4][GF_ORDER_HIST4_MAX];
        memset(h, 0, sizeof h);
        draw_ids_any(r, kind, n, bits, ids, h, NULL);
        for (c = 0; c < k; c++)
            pos[c + 1] = (int64_t)h[0][c] + h[1][c] + h[2][c] + h[3][c];
    } else {
        draw_ids_any(r, kind, n, bits, ids, NULL, pos);
    }
}

/* --- step 2: stable scatter --- */

/* Elements 0..n-1 appended to their buckets (pos[c]: bucket c's next free
 * slot): order[slot] := i when order is given, and each array's row i moved
 * to that slot. n_arr and width are constants at the specialised call
 * sites (width 0: each array's own). */
GF_ALWAYS_INLINE void scatter_rows(const uint16_t *ids, int64_t n, int64_t *pos, int64_t *order, const moved *mv,
                                   const int n_arr, const int64_t width)
{
    const char *src[GF_ORDER_MAX_ROWS];
    char *dst[GF_ORDER_MAX_ROWS];
    int64_t i;
    int q;
    for (q = 0; q < n_arr; q++) {
        src[q] = mv->src[q];
        dst[q] = mv->dst[q];
    }
    for (i = 0; i < n; i++) {
        const int64_t to = pos[ids[i]]++;
        if (n_arr == 0 || order != NULL)      /* (no arrays: the order is given) */
            order[to] = i;
        for (q = 0; q < n_arr; q++) {
            const int64_t w = width ? width : mv->w[q];
            copy_row(dst[q] + to * w, src[q] + i * w, w);
        }
    }
}

/* Each shape's scatter is a function of its own, so that each loop gets
 * the registers to itself. */
#define GF_ORDER_SCATTER_FN(N, W)                                                                  \
    static GF_NOINLINE GF_HOT_ALIGN void scatter_##N##_##W(const uint16_t *ids, int64_t n, int64_t *pos,       \
                                              int64_t *order, const moved *mv)                    \
    {                                                                                              \
        if (order != NULL)                                                                         \
            scatter_rows(ids, n, pos, order, mv, N, W);                                            \
        else                                                                                       \
            scatter_rows(ids, n, pos, NULL, mv, N, W);                                             \
    }
GF_ORDER_SHAPES(GF_ORDER_SCATTER_FN)
#undef GF_ORDER_SCATTER_FN

static GF_NOINLINE GF_HOT_ALIGN void scatter_order(const uint16_t *ids, int64_t n, int64_t *pos, int64_t *order)
{
    scatter_rows(ids, n, pos, order, NULL, 0, 0);
}

static GF_NOINLINE void scatter_any(const uint16_t *ids, int64_t n, int64_t *pos, int64_t *order, const moved *mv)
{
    scatter_rows(ids, n, pos, order, mv, mv->n, 0);
}

static void scatter(const uint16_t *ids, int64_t n, int64_t *pos, int64_t *order, const moved *mv)
{
#define GF_ORDER_SCATTER(N, W)                          \
    if (mv->n == N && mv->width == W) {                 \
        scatter_##N##_##W(ids, n, pos, order, mv);      \
        return;                                         \
    }
    GF_ORDER_SHAPES(GF_ORDER_SCATTER)
#undef GF_ORDER_SCATTER
    if (mv->n == 0)
        scatter_order(ids, n, pos, order);
    else
        scatter_any(ids, n, pos, order, mv);
}

/* --- step 3: Fisher-Yates in each bucket --- */

/* The bucket's Fisher-Yates on a uint16 arrangement perm[0..m) = 0..m-1,
 * the documented draws and swaps. First row t of each of the n_arr arrays
 * (w bytes) is copied side by side into record t of rs (one sequential
 * pass). Swap i (slot i with slot j <= i) fixes slot i for good: no later
 * swap touches it. So the swap only moves perm[i] into perm[j], and slot i
 * of every array takes the record perm[j] held, at once: one random read
 * per row instead of one per array, and no pass over perm afterwards; slot
 * 0 is the last one fixed. The rows end as the swaps in place would leave
 * them. n_arr and w are constants at the call sites. */
GF_ALWAYS_INLINE void bucket_records(order_rng *r, const int kind, uint16_t *perm, char *rs, const moved *mv,
                                     int64_t s, int64_t m, const int n_arr, const int64_t w)
{
    const int64_t rec = n_arr * w;
    char *dst[GF_ORDER_MAX_ROWS];
    int64_t i, t = 0;
    int q;
    for (q = 0; q < n_arr; q++)
        dst[q] = mv->dst[q] + s * w;
    for (t = 0; t < m; t++) {
        perm[t] = (uint16_t)t;
        for (q = 0; q < n_arr; q++)
            copy_row(rs + t * rec + q * w, dst[q] + t * w, w);
    }
    for (i = m - 1; i >= 1; i--) {
        const int64_t j = (int64_t)order_bounded(r, (uint64_t)i + 1, kind);
        const uint16_t v = perm[j];
        const char *p = rs + (int64_t)v * rec;
        perm[j] = perm[i];
        for (q = 0; q < n_arr; q++)
            copy_row(dst[q] + i * w, p + q * w, w);
    }
    for (q = 0; q < n_arr; q++)
        copy_row(dst[q], rs + (int64_t)perm[0] * rec + q * w, w);
}

/* The same arrangement for any arrays and the order: then each of them
 * (the order o if given, each array) is copied to rs and gathered back
 * through the arrangement, one stream at a time. */
GF_ALWAYS_INLINE void bucket_streams(order_rng *r, const int kind, uint16_t *perm, char *rs, int64_t *o,
                                     const moved *mv, int64_t s, int64_t m)
{
    int64_t i;
    int q;
    for (i = 0; i < m; i++)
        perm[i] = (uint16_t)i;
    for (i = m - 1; i >= 1; i--) {
        const int64_t j = (int64_t)order_bounded(r, (uint64_t)i + 1, kind);
        const uint16_t u = perm[i];
        perm[i] = perm[j];
        perm[j] = u;
    }
    if (o != NULL) {
        int64_t *os = (int64_t *)rs;
        memcpy(os, o, (size_t)m * 8);
        for (i = 0; i < m; i++)
            o[i] = os[perm[i]];
    }
    for (q = 0; q < mv->n; q++) {
        const int64_t w = mv->w[q];
        char *d = mv->dst[q] + s * w;
        memcpy(rs, d, (size_t)(m * w));
        for (i = 0; i < m; i++)     /* w is loop-invariant: the switch is hoisted */
            copy_row(d + i * w, rs + (int64_t)perm[i] * w, w);
    }
}

/* The bucket's Fisher-Yates in place: the order o (if given) and n_arr
 * arrays' rows swapped together. Called with n_arr = 0 for the order alone
 * (training's index mode), where the swaps in place beat an arrangement;
 * with rows, for buckets beyond the arrangement's reach. */
GF_ALWAYS_INLINE void bucket_swaps(order_rng *r, const int kind, int64_t *o, const moved *mv, int64_t s,
                                   int64_t m, const int n_arr)
{
    int64_t i;
    int q;
    for (i = m - 1; i >= 1; i--) {
        const int64_t j = (int64_t)order_bounded(r, (uint64_t)i + 1, kind);
        if (n_arr == 0 || o != NULL) {        /* (no arrays: the order is given) */
            const int64_t t = o[i];
            o[i] = o[j];
            o[j] = t;
        }
        for (q = 0; q < n_arr; q++)
            swap_row(mv->dst[q] + s * mv->w[q], mv->w[q], i, j);
    }
}

/* Prefetches the cache lines of a bucket's slots [s, s + m) in order[] and
 * in each moved array, before the bucket ahead of it is shuffled: they then
 * arrive meanwhile at streaming speed, instead of one random miss at a time
 * once its own shuffle begins. */
static void prefetch_bucket(const int64_t *order, const moved *mv, int64_t s, int64_t m)
{
    const char *p, *end;
    int q;
    if (m <= 0)
        return;
    if (order != NULL)
        for (p = (const char *)(order + s), end = (const char *)(order + s + m); p < end; p += GF_ORDER_LINE)
            GF_PREFETCH_W(p);
    for (q = 0; q < mv->n; q++)
        for (p = mv->dst[q] + s * mv->w[q], end = p + m * mv->w[q]; p < end; p += GF_ORDER_LINE)
            GF_PREFETCH_W(p);
}

/* Step 3 over the k buckets [pos[c], pos[c + 1]). A bucket of 2 to
 * GF_ORDER_PERM_MAX moved rows goes through the arrangement (the scratch
 * holds it and a copy of the bucket's rows): as records when no order is
 * written and the rows have one of GF_ORDER_SHAPES, else stream by stream.
 * The order alone, larger buckets, and rows too wide for the scratch (or no
 * memory for it) swap in place. */
GF_ALWAYS_INLINE void shuffle_buckets(order_rng *r, const int kind, int64_t *order, const moved *mv,
                                      const int64_t *pos, int64_t k)
{
    int64_t max_m = 0, rec = order != NULL ? 8 : 0, perm_bytes, c;
    char *scratch = NULL, *rs = NULL;
    uint16_t *perm = NULL;
    int q;
    for (c = 0; c < k; c++)
        if (pos[c + 1] - pos[c] > max_m)
            max_m = pos[c + 1] - pos[c];
    for (q = 0; q < mv->n; q++)
        rec += mv->w[q];
    if (max_m > GF_ORDER_PERM_MAX)
        max_m = GF_ORDER_PERM_MAX;
    perm_bytes = (max_m * 2 + GF_ORDER_LINE - 1) & ~(int64_t)(GF_ORDER_LINE - 1);
    if (mv->n > 0 && max_m >= 2 && rec <= (GF_ORDER_SCRATCH_MAX - perm_bytes) / max_m)
        scratch = (char *)malloc((size_t)(perm_bytes + max_m * rec) + GF_ORDER_LINE);
    if (scratch != NULL) {          /* aligned to a line */
        perm = (uint16_t *)(scratch + ((GF_ORDER_LINE - ((uintptr_t)scratch & (GF_ORDER_LINE - 1)))
                                       & (GF_ORDER_LINE - 1)));
        rs = (char *)perm + perm_bytes;
    }
    prefetch_bucket(order, mv, 0, pos[1]);
    for (c = 0; c < k; c++) {
        const int64_t s = pos[c], m = pos[c + 1] - pos[c];
        int64_t *o = order != NULL ? order + s : NULL;
        if (c + 1 < k)
            prefetch_bucket(order, mv, pos[c + 1], pos[c + 2] - pos[c + 1]);
        if (m < 2)
            continue;
        if (mv->n == 0) {
            bucket_swaps(r, kind, o, mv, s, m, 0);
        } else if (perm == NULL || m > GF_ORDER_PERM_MAX) {
            bucket_swaps(r, kind, o, mv, s, m, mv->n);
        } else {
#define GF_ORDER_RECORDS(N, W)                                      \
            if (o == NULL && mv->n == N && mv->width == W) {        \
                bucket_records(r, kind, perm, rs, mv, s, m, N, W);  \
                continue;                                           \
            }
            GF_ORDER_SHAPES(GF_ORDER_RECORDS)
#undef GF_ORDER_RECORDS
            bucket_streams(r, kind, perm, rs, o, mv, s, m);
        }
    }
    free(scratch);
}

/* The whole order: steps 1 to 3, drawing from *rp (`kind` a constant). */
GF_ALWAYS_INLINE void order_body(order_rng *rp, const int kind, int64_t n, int64_t *order, const moved *mv,
                                 uint16_t *ids, int64_t k)
{
    int64_t pos[GF_ORDER_MAX_BUCKETS + 1];
    order_rng rl = *rp, *r = &rl;      /* a local copy: the state stays in registers */
    int bits = 0, q;
    int64_t i, c;
    while (((int64_t)1 << bits) < k)
        bits++;
    if (k > 1) {
        bucket_ids(r, kind, n, k, bits, ids, pos);
        for (c = 1; c <= k; c++)     /* pos[c]: the end of bucket c - 1 */
            pos[c] += pos[c - 1];
        for (c = k; c > 0; c--)      /* pos[c + 1]: the start of bucket c */
            pos[c] = pos[c - 1];
        pos[0] = 0;
        scatter(ids, n, pos + 1, order, mv);
        /* the scatter advanced pos[c + 1] to the end of bucket c */
    } else {
        if (order != NULL)
            for (i = 0; i < n; i++)
                order[i] = i;
        for (q = 0; q < mv->n; q++)
            memcpy(mv->dst[q], mv->src[q], (size_t)(n * mv->w[q]));
        pos[0] = 0;
        pos[1] = n;
    }
    shuffle_buckets(r, kind, order, mv, pos, k);
    *rp = rl;
}

/* --- entry points --- */

/* Checks the arguments (k: 0 for gf_order_buckets(n), else a power of two
 * in [1, GF_ORDER_MAX_BUCKETS]) and fills *mv from rows. */
static int order_check(int64_t n, const int64_t *order, const gf_rows *rows, int n_rows, const uint16_t *ids,
                       int64_t *k, moved *mv)
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
    memset(mv, 0, sizeof *mv);
    for (q = 0; q < n_rows; q++) {
        if (rows == NULL || rows[q].row_bytes < 1 || (n > 0 && (rows[q].src == NULL || rows[q].dst == NULL)))
            return GF_ERR_ARG;
        mv->src[q] = (const char *)rows[q].src;
        mv->dst[q] = (char *)rows[q].dst;
        mv->w[q] = rows[q].row_bytes;
        mv->width = (q == 0 || mv->width == mv->w[q]) ? mv->w[q] : 0;
    }
    mv->n = n_rows;
    return GF_OK;
}

/* one out-of-line copy of the whole order per kind of generator */
static GF_HOT_ALIGN void order_bitgen(order_rng *r, int64_t n, int64_t *order, const moved *mv, uint16_t *ids, int64_t k)
{
    order_body(r, 2, n, order, mv, ids, k);
}

int gf_order_bitgen(const gf_bitgen *bg, int64_t n, int64_t *order, const gf_rows *rows, int n_rows,
                    uint16_t *ids, int64_t k)
{
    order_rng r;
    moved mv;
    int status;
    if (bg == NULL || bg->next_uint64 == NULL)
        return GF_ERR_ARG;
    if ((status = order_check(n, order, rows, n_rows, ids, &k, &mv)) != GF_OK)
        return status;
    memset(&r, 0, sizeof r);
    r.bg = bg;
    order_bitgen(&r, n, order, &mv, ids, k);
    return GF_OK;
}

#if defined(__SIZEOF_INT128__)
static GF_HOT_ALIGN void order_pcg64(order_rng *r, int64_t n, int64_t *order, const moved *mv, uint16_t *ids, int64_t k)
{
    order_body(r, 0, n, order, mv, ids, k);
}

static GF_HOT_ALIGN void order_pcg64dxsm(order_rng *r, int64_t n, int64_t *order, const moved *mv, uint16_t *ids, int64_t k)
{
    order_body(r, 1, n, order, mv, ids, k);
}

int gf_order_pcg64_available(void) { return 1; }

int gf_order_pcg64(gf_pcg64 *g, int64_t n, int64_t *order, const gf_rows *rows, int n_rows, uint16_t *ids,
                   int64_t k)
{
    order_rng r;
    moved mv;
    int status;
    if (g == NULL)
        return GF_ERR_ARG;
    if ((status = order_check(n, order, rows, n_rows, ids, &k, &mv)) != GF_OK)
        return status;
    memset(&r, 0, sizeof r);
    r.state = ((gf_u128)g->state_hi << 64) | g->state_lo;
    r.inc = ((gf_u128)g->inc_hi << 64) | g->inc_lo;
    if (g->dxsm)
        order_pcg64dxsm(&r, n, order, &mv, ids, k);
    else
        order_pcg64(&r, n, order, &mv, ids, k);
    g->state_hi = (uint64_t)(r.state >> 64);
    g->state_lo = (uint64_t)r.state;
    return GF_OK;
}
#else
int gf_order_pcg64_available(void) { return 0; }

int gf_order_pcg64(gf_pcg64 *g, int64_t n, int64_t *order, const gf_rows *rows, int n_rows, uint16_t *ids,
                   int64_t k)
{
    (void)g; (void)n; (void)order; (void)rows; (void)n_rows; (void)ids; (void)k;
    return GF_ERR_ARG;
}
#endif
