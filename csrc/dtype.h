/* Internal: defines `real`, FN(name) and the math functions for one dtype.
 * Include after defining GF_DTYPE as 32 or 64, then include the typed
 * bodies (*.inc). kernels_f32.c and kernels_f64.c do exactly that, so the
 * float and double kernels come from one source and cannot drift apart. */
#include <math.h>

#undef real
#undef FN
#undef FN_
#undef FN__
#undef EXP
#undef LOG1P
#undef TANH
#undef SQRT

#define FN__(name, suf) name##_##suf
#define FN_(name, suf) FN__(name, suf)

#if GF_DTYPE == 64
#define real double
#define FN(name) FN_(name, f64)
#define EXP exp
#define LOG1P log1p
#define TANH tanh
#elif GF_DTYPE == 32
#define real float
#define FN(name) FN_(name, f32)
#define EXP expf
#define LOG1P log1pf
#define TANH tanhf
#else
#error "define GF_DTYPE as 32 or 64"
#endif
