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

/* How many draws run ahead of the swaps (a power of two). Measured on a
 * Xeon (AVX-512) VM: 16..64 all help; the gain flattens past ~32. */
#define LOOKAHEAD 32

/* j uniform in [0, max], max >= 1, as NumPy's random_interval: the smallest
 * all-ones mask >= max, then draws & mask until one is <= max. */
static inline uint64_t interval(const gf_bitgen *bg, uint64_t max, uint64_t mask)
{
    uint64_t v;
    if (max <= 0xFFFFFFFFu) {
        do {
            v = (uint64_t)bg->next_uint32(bg->state) & mask;
        } while (v > max);
    } else {
        do {
            v = bg->next_uint64(bg->state) & mask;
        } while (v > max);
    }
    return v;
}

int gf_shuffle_i64(const gf_bitgen *bg, int64_t *x, int64_t n, int fill)
{
    int64_t ring[LOOKAHEAD];
    int64_t i, k, next, ahead;
    uint64_t mask;

    if (n < 0 || (n > 0 && x == NULL) || bg == NULL || bg->next_uint32 == NULL ||
        bg->next_uint64 == NULL)
        return GF_ERR_ARG;
    if (fill)
        for (k = 0; k < n; k++)
            x[k] = k;
    if (n < 2)
        return GF_OK;

    /* mask for the largest bound, n-1; shrunk as the bound falls */
    mask = (uint64_t)(n - 1);
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;

    /* prologue: the first `ahead` draws (bounds n-1, n-2, ...) */
    next = n - 1;                         /* the next bound to draw for */
    ahead = n - 1 < LOOKAHEAD ? n - 1 : LOOKAHEAD;
    for (k = 0; k < ahead; k++, next--) {
        while ((mask >> 1) >= (uint64_t)next)
            mask >>= 1;
        ring[next & (LOOKAHEAD - 1)] = (int64_t)interval(bg, (uint64_t)next, mask);
        GF_PREFETCH_W(x + ring[next & (LOOKAHEAD - 1)]);
    }
    /* steady state: take step i's j, draw step (i - LOOKAHEAD)'s into the
     * same slot, then swap */
    for (i = n - 1; i >= 1; i--) {
        int64_t j = ring[i & (LOOKAHEAD - 1)], t;
        if (next >= 1) {
            int64_t jn;
            while ((mask >> 1) >= (uint64_t)next)
                mask >>= 1;
            jn = (int64_t)interval(bg, (uint64_t)next, mask);
            ring[next & (LOOKAHEAD - 1)] = jn;
            GF_PREFETCH_W(x + jn);
            next--;
        }
        t = x[j];
        x[j] = x[i];
        x[i] = t;
    }
    return GF_OK;
}
