/* Network description helpers shared by both dtypes: validation and the
 * sizes of the flat parameter buffer and the workspace, with every sum and
 * product checked against GF_MAX_LEN (layout.h). */
#include "gradfit.h"
#include "layout.h"

int gf_check_net(const gf_net *net)
{
    if (!net || net->n_layers < 1 || !net->sizes || !net->acts)
        return GF_ERR_ARG;
    for (int64_t l = 0; l <= net->n_layers; l++)
        if (net->sizes[l] < 1)
            return GF_ERR_ARG;
    for (int64_t l = 0; l < net->n_layers; l++)
        if (net->acts[l] < 0 || net->acts[l] >= GF_ACT_COUNT_)
            return GF_ERR_ARG;
    if (gf_n_params(net) < 0)
        return GF_ERR_SIZE;
    return GF_OK;
}

int64_t gf_n_params(const gf_net *net)
{
    int64_t P = 0;
    for (int64_t l = 0; l < net->n_layers; l++) {
        const int64_t OUT = net->sizes[l + 1];
        /* IN * OUT + OUT = (IN + 1) * OUT */
        P = gf_len_add(P, gf_len_mul(gf_len_add(net->sizes[l], 1), OUT));
    }
    return P;
}

int64_t gf_max_width(const gf_net *net)
{
    int64_t w = 1;
    for (int64_t l = 1; l <= net->n_layers; l++)
        if (net->sizes[l] > w)
            w = net->sizes[l];
    return w;
}

int64_t gf_state_len(int32_t optim, int64_t P)
{
    if (P < 0 || P > GF_MAX_LEN)
        return -1;
    switch (optim) {
    case GF_OPT_SGD:
        return P;
    case GF_OPT_ADAM:
    case GF_OPT_ADAMW:
        return gf_len_mul(2, P);
    default:
        return -1;
    }
}

int64_t gf_workspace_len_kind(const gf_net *net, int64_t chunk, int32_t kind,
                              int64_t state_len)
{
    const int32_t base = kind & ~GF_WS_SPARSE;
    if (state_len < 0 || base < GF_WS_FORWARD || base > GF_WS_TRAIN)
        return -1;
    return gf_layout(net, gf_n_params(net), state_len, chunk, kind).end;
}
