/* The float64 kernels for the baseline instruction set (SSE2 on x86-64). */
#include <string.h>
#include "gradfit.h"
#include "layout.h"
#include "ops.h"

#define GF_DTYPE 64
#define GF_ISA base
#include "dtype.h"

#include "ops.inc"
#include "optim.inc"
#include "train.inc"
