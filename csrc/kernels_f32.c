/* The float32 instantiation of the typed kernels. */
#define GF_DTYPE 32
#include <string.h>
#include "gradfit.h"
#include "layout.h"
#include "dtype.h"
#include "ops.h"

#include "ops.inc"
#include "optim.inc"
#include "train.inc"
