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
