/* Internal: where things sit in the workspace buffer (see gf_workspace_len).
 *
 *   prev (P) | xb (C,IN0) | yb (C,OUT_L) | z0 a0 | z1 a1 | ... | dA (C,maxw) | dB (C,maxw)
 *
 * C is the workspace capacity in rows ("chunk"); z_l and a_l are (C,OUT_l).
 */
#ifndef GRADFIT_LAYOUT_H
#define GRADFIT_LAYOUT_H
#include "gradfit.h"

int64_t gf_max_width(const gf_net *net);

typedef struct {
    int64_t prev, xb, yb, layers, da, db;   /* element offsets */
} gf_ws_layout;

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
    return o;
}
#endif
