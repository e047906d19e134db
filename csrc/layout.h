/* Internal: where things sit in the workspace buffer (see gf_workspace_len_kind).
 *
 *   prev (P) | prev_state (S) | prev_t (2 if S > 0) | xb (C,IN0) | yb (C,OUT_L) |
 *   z0 a0 | z1 a1 | ... | dA (C,maxw) | dB (C,maxw) | tmp
 *
 * prev, prev_state and prev_t are the params, optimizer state (S elements,
 * gf_state_len) and step count (an int64_t stored in the bytes of 2
 * elements) before the last update, to which a divergence rolls back. C is
 * the workspace capacity in rows ("chunk"); z_l and a_l are (C,OUT_l); tmp
 * is the matrix products' packing scratch.
 *
 * Three kinds (gf_ws_kind): GF_WS_TRAIN has all of it, with tmp of max over
 * layers of IN*OUT elements (every product of the backward pass packs from
 * it). GF_WS_GRAD (gf_loss_grad) has no prev, prev_state or prev_t.
 * GF_WS_FORWARD (gf_predict, gf_loss) has no prev either and a tmp sized
 * for forward products only: max over layers of min(IN, GF_KC_BOUND) * OUT,
 * or 1 element when C < GF_SMALL_M (products of fewer rows never pack). That
 * is enough for the packed product to pick the same k blocks as with a
 * training workspace, so a forward pass gives the same bits in every kind.
 * (A 2048-2048-1 net predicting one row: 0.1 MB instead of 67 MB.)
 * A kind with GF_WS_SPARSE added (X is a gf_csr) has no xb (0 rows wide)
 * and no scratch for the first layer, whose products read the sparse rows.
 */
#ifndef GRADFIT_LAYOUT_H
#define GRADFIT_LAYOUT_H
#include "gradfit.h"
#include "tuning.h"

int64_t gf_max_width(const gf_net *net);

/* Whether this compiler builds the AVX2 + FMA and AVX-512 variants of the
 * kernels: GCC and clang (which also defines __GNUC__) on x86-64. */
#if defined(__GNUC__) && defined(__x86_64__)
#define GF_HAVE_X86_SIMD_BUILD 1
#else
#define GF_HAVE_X86_SIMD_BUILD 0
#endif

/* Overflow-checked size arithmetic for a, b in [0, GF_MAX_LEN] or -1: the
 * result is -1 (too large) if an operand is -1 or the exact result exceeds
 * GF_MAX_LEN. Plain integer operations; no product can overflow int64_t
 * because the division test comes first. */
static inline int64_t gf_len_mul(int64_t a, int64_t b)
{
    if (a < 0 || b < 0)
        return -1;
    if (b != 0 && a > GF_MAX_LEN / b)
        return -1;
    return a * b;
}

static inline int64_t gf_len_add(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || a > GF_MAX_LEN - b)
        return -1;
    return a + b;
}


typedef struct {
    int64_t prev, prev_state, prev_t, xb, yb, layers, da, db, tmp;   /* element offsets */
    int64_t end;    /* the workspace length; -1 if it exceeds GF_MAX_LEN */
} gf_ws_layout;

/* Packing scratch: max over layers l >= l0 of IN*OUT, or for a forward-only
 * workspace of min(IN, GF_KC_BOUND)*OUT (1 if C < GF_SMALL_M); -1 if too large. */
static inline int64_t gf_scratch_len(const gf_net *net, gf_ws_kind kind, int64_t C,
                                     int64_t l0)
{
    int64_t len = 1;
    if (kind == GF_WS_FORWARD && C < GF_SMALL_M)
        return len;
    for (int64_t l = l0; l < net->n_layers; l++) {
        int64_t in = net->sizes[l];
        if (kind == GF_WS_FORWARD && in > GF_KC_BOUND)
            in = GF_KC_BOUND;
        const int64_t w = gf_len_mul(in, net->sizes[l + 1]);
        if (w < 0)
            return -1;
        if (w > len)
            len = w;
    }
    return len;
}

/* The offsets for P params (gf_n_params), S elements of optimizer state and
 * chunks of C rows, in a workspace of the given kind, GF_WS_SPARSE added or
 * not (P and S only count for GF_WS_TRAIN). Every sum is checked: if any
 * exceeds GF_MAX_LEN (or P or S is -1), end is -1 and the offsets must not
 * be used. */
static inline gf_ws_layout gf_layout(const gf_net *net, int64_t P, int64_t S,
                                     int64_t C, int kind_flags)
{
    gf_ws_layout o;
    const int sparse = (kind_flags & GF_WS_SPARSE) != 0;
    const gf_ws_kind kind = (gf_ws_kind)(kind_flags & ~GF_WS_SPARSE);
    const int64_t L = net->n_layers;
    const int64_t width = gf_len_mul(C, gf_max_width(net));
    if (kind != GF_WS_TRAIN)
        P = S = 0;
    o.prev = 0;
    o.prev_state = P;
    o.prev_t = gf_len_add(P, S);
    o.xb = gf_len_add(o.prev_t, S > 0 ? 2 : (S < 0 ? -1 : 0));
    o.yb = gf_len_add(o.xb, sparse ? 0 : gf_len_mul(C, net->sizes[0]));
    o.layers = gf_len_add(o.yb, gf_len_mul(C, net->sizes[L]));
    int64_t end = o.layers;
    for (int64_t l = 0; l < L; l++)
        end = gf_len_add(end, gf_len_mul(gf_len_mul(2, C), net->sizes[l + 1]));
    o.da = end;
    o.db = gf_len_add(o.da, width);
    o.tmp = gf_len_add(o.db, width);
    /* the workspace ends with the scratch for W^T */
    o.end = C < 1 ? -1 : gf_len_add(o.tmp, gf_scratch_len(net, kind, C, sparse));
    return o;
}
#endif
