/* Internal: where things sit in the workspace buffer (see gf_workspace_len).
 *
 *   prev (P) | xb (C,IN0) | yb (C,OUT_L) | z0 a0 | z1 a1 | ... | dA (C,maxw) | dB (C,maxw) | tmp
 *
 * C is the workspace capacity in rows ("chunk"); z_l and a_l are (C,OUT_l).
 */
#ifndef GRADFIT_LAYOUT_H
#define GRADFIT_LAYOUT_H
#include "gradfit.h"

int64_t gf_max_width(const gf_net *net);

/* Whether this compiler builds the AVX2 + FMA and AVX-512 variants of the kernels. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define GF_HAVE_X86_SIMD_BUILD 1
#else
#define GF_HAVE_X86_SIMD_BUILD 0
#endif

typedef struct {
    int64_t prev, xb, yb, layers, da, db, tmp;   /* element offsets */
} gf_ws_layout;

/* Scratch for dense_backward's W^T: max over layers of IN*OUT. */
static inline int64_t gf_scratch_len(const gf_net *net)
{
    int64_t len = 1;
    for (int64_t l = 0; l < net->n_layers; l++) {
        const int64_t IN = net->sizes[l], OUT = net->sizes[l + 1];
        if (IN * OUT > len)
            len = IN * OUT;
    }
    return len;
}

static inline gf_ws_layout gf_layout(const gf_net *net, int64_t P, int64_t C)
{
    gf_ws_layout o;
    const int64_t L = net->n_layers;
    o.prev = 0;
    o.xb = P;
    o.yb = o.xb + C * net->sizes[0];
    o.layers = o.yb + C * net->sizes[L];
    int64_t end = o.layers;
    for (int64_t l = 0; l < L; l++)
        end += 2 * C * net->sizes[l + 1];
    o.da = end;
    o.db = end + C * gf_max_width(net);
    o.tmp = o.db + C * gf_max_width(net);
    return o;
}
#endif
