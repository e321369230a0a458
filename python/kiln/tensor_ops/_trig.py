"""sin and cos composed from the backend primitives (there is no sin/cos primitive).

The classic libm method, fdlibm's, elementwise in float64 (the result cast back to the
input's dtype, so float32 results are correctly rounded to within an ulp):

    k = round(x * 2/pi)                      the nearest multiple of pi/2
    r = x - k*pi/2                           Cody-Waite: pi/2 in three pieces of 33 bits,
                                             exact products for |k| < 2^20 (|x| < ~1.6e6)
    sin r, cos r                             fdlibm's minimax polynomials on |r| <= pi/4
    q = k mod 4                              selects (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s)

Past |x| ~ 1.6e6 the reduction loses bits gradually (NumPy reduces exactly); NaN and
infinities give NaN, as libm.
"""

from __future__ import annotations

import numpy as np

_TWO_OVER_PI = 6.36619772367581382433e-01
_PIO2 = (1.57079632673412561417e+00, 6.07710050630396597660e-11, 2.02226624871116645580e-21)
_SIN = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
        2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_COS = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
        -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)


def _horner(be, z, coefficients):
    """c0 + z*(c1 + z*(c2 + ...)) over an array z."""
    acc = be.multiply(z, coefficients[-1])
    for c in reversed(coefficients[1:-1]):
        acc = be.multiply(be.add(acc, c), z)
    return be.add(acc, coefficients[0])


def sin_cos(be, a):
    """(sin(a), cos(a)) for a float array ``a`` of backend ``be``, in a's dtype."""
    with np.errstate(invalid="ignore"):  # inf - inf in the reduction is the NaN wanted (host arrays)
        return _sin_cos(be, a)


def _sin_cos(be, a):
    dtype = a.dtype
    x = be.astype(a, np.float64, copy=False)
    k = be.round(be.multiply(x, _TWO_OVER_PI))
    r = x
    for piece in _PIO2:
        r = be.subtract(r, be.multiply(k, piece))
    z = be.multiply(r, r)
    s = be.add(r, be.multiply(be.multiply(r, z), _horner(be, z, _SIN)))
    c = be.add(be.subtract(1.0, be.multiply(z, 0.5)), be.multiply(be.multiply(z, z), _horner(be, z, _COS)))
    # q = k mod 4: k - 4 round((k - 1.5) / 4) (never a tie for integer k, so NumPy's round is floor here)
    q = be.subtract(k, be.multiply(be.round(be.divide(be.subtract(k, 1.5), 4.0)), 4.0))
    odd = be.logical_or(be.equal(q, 1.0), be.equal(q, 3.0))
    sin_sign = be.where(be.greater_equal(q, 2.0), -1.0, 1.0)                             # q = 2, 3
    cos_sign = be.where(be.logical_or(be.equal(q, 1.0), be.equal(q, 2.0)), -1.0, 1.0)   # q = 1, 2
    sine = be.multiply(be.where(odd, c, s), sin_sign)
    cosine = be.multiply(be.where(odd, s, c), cos_sign)
    return be.astype(sine, dtype, copy=False), be.astype(cosine, dtype, copy=False)
