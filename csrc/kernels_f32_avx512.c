/* The float32 kernels compiled again for AVX-512 (F, VL, BW, DQ) with
 * 512-bit vectors, chosen at run time by dispatch.c on CPUs that have them.
 * Only GCC on x86 builds this variant. */
#include <string.h>
#include "gradfit.h"
#include "layout.h"
#include "ops.h"

#if GF_HAVE_X86_SIMD_BUILD
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")
#define GF_DTYPE 32
#define GF_ISA avx512
#define GF_ISA_AVX512 1
#include "dtype.h"

#include "ops.inc"
#include "optim.inc"
#include "train.inc"
#endif
