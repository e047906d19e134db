"""Dev-time fits of csrc/vmath.h's float64 softplus polynomials (gf_softplus_g's
exp part G(r) and gf_log_atanh_p6): interpolation at Chebyshev nodes
(near-minimax), solved in long double by Gaussian elimination with partial
pivoting, the truth from long series. Prints each fit's error and its
coefficients (the degree-11 exp and the degree-6 log fits are the ones in
vmath.h). Not part of the package or the tests; run it to reproduce them:

    python tools/fit_vmath.py
"""
import numpy as np
L = np.longdouble

def solve(A, b):
    A = A.copy(); b = b.copy(); n = len(b)
    for i in range(n):
        p = i + np.argmax(np.abs(A[i:, i])); A[[i, p]] = A[[p, i]]; b[[i, p]] = b[[p, i]]
        for j in range(i + 1, n):
            f = A[j, i] / A[i, i]; A[j, i:] -= f * A[i, i:]; b[j] -= f * b[i]
    x = np.zeros(n, dtype=L)
    for i in range(n - 1, -1, -1):
        x[i] = (b[i] - (A[i, i + 1:] * x[i + 1:]).sum()) / A[i, i]
    return x

def fit(f, a, b, deg):
    k = np.arange(deg + 1, dtype=L)
    pi = L("3.14159265358979323846264338327950288")
    t = np.cos((2 * k + 1) * pi / (2 * (deg + 1)))
    x = (a + b) / 2 + (b - a) / 2 * t
    s = max(abs(a), abs(b))
    V = (x[:, None] / s) ** np.arange(deg + 1)[None, :]
    c = solve(V.astype(L), f(x))
    return c / s ** np.arange(deg + 1).astype(L)

def horner(c, x):
    p = c[-1]
    for ck in c[-2::-1]:
        p = p * x + ck
    return p

# exp: e^r = 1 + r + r^2 g(r), |r| <= ln2/2 (plus a margin)
def g(r):
    return (np.expm1(r) - r) / (r * r)
h = L(0.5) * np.log(L(2)) * L(1.0001)
def gtaylor(r):
    out = np.zeros_like(r); term = np.ones_like(r) / 2
    for k in range(30):
        out += term; term = term * r / (k + 3)
    return out
for deg in (8, 9):
    c = fit(gtaylor, -h, h, deg)
    cd = c.astype(np.float64)
    r = np.linspace(-0.3466, 0.3466, 200001)
    got = 1 + r + r * r * horner(cd, r)   # in float64
    want = np.exp(r.astype(L))
    err = np.abs(horner(cd.astype(L), r.astype(L)) * r.astype(L)**2 + 1 + r.astype(L) - want) / want
    print("exp deg", deg + 2, "poly err (rel, in eps)", float(err.max() / 2.0**-52), " float64 eval err", float((np.abs(got - want) / want).max() / 2.0**-52))
    print("  coeffs", [repr(float(v)) for v in cd])

# log: log m = 2 s + s z p(z), z = s^2 <= zmax
smax = (np.sqrt(L(2)) - 1) / (np.sqrt(L(2)) + 1)
zmax = smax * smax * L(1.0001)
def ptrue(z):
    out = np.zeros_like(z)
    for k in range(60):
        out += L(2) / (2 * k + 3) * z ** k
    return out
for deg in (5, 6, 7):
    c = fit(ptrue, L(0), zmax, deg)
    cd = c.astype(np.float64)
    z = np.linspace(0, float(zmax), 100001).astype(L)
    err = np.abs(horner(cd.astype(L), z) - ptrue(z)) / ptrue(z) * z / 2   # relative contribution to log m ~ 2s
    print("log deg", deg, "rel err in log m (eps)", float(err.max() / 2.0**-52))
    print("  coeffs", [repr(float(v)) for v in cd])
