/* The float64 kernels compiled again for AVX2 + FMA, chosen at run time by
 * dispatch.c on CPUs that have them. Only GCC on x86 builds this variant. */
#include <string.h>
#include "gradfit.h"
#include "layout.h"
#include "ops.h"

#if GF_HAVE_X86_SIMD_BUILD
#pragma GCC target("avx2,fma")
#define GF_DTYPE 64
#define GF_ISA avx2
#define GF_ISA_AVX2 1
#include "dtype.h"

#include "ops.inc"
#include "optim.inc"
#include "train.inc"
#endif
