"""JavaScript's Math.exp, log, sin, cos and tanh as V8 computes them (its fdlibm port), bit for bit.

ECMAScript leaves these functions' last bit to the implementation. V8 (node 20, V8 11.3, the
engine the Playground's reference runs used) computes them with its port of Sun's fdlibm
(``src/base/ieee754.cc``), while CPython's ``math`` calls the platform libm, which differs from it
in the last bit for a few percent of arguments (PLAYGROUND.md section 3.4). This module follows
fdlibm's algorithms step by step in binary64 arithmetic, which Python's floats are:

- exp: x = k ln2 + r with ln2 split in hi + lo, |r| <= ln2 / 2; exp(r) from a degree-5 rational
  approximation R(r^2) of r (e^r + 1) / (e^r - 1); scale by 2^k;
- log: x = 2^k (1 + f) with sqrt(2)/2 < 1 + f < sqrt(2); log(1 + f) = 2s + s R(s^2),
  s = f / (2 + f), with a degree-14 polynomial R; plus k ln2 in hi + lo;
- expm1 (for tanh): the same reduction as exp, a correction term for the rounding of r, and a
  degree-5 approximation of r (e^r + 1) / (e^r - 1) in r^2;
- tanh: x for |x| < 2^-28, -t / (t + 2) with t = expm1(-2|x|) below 1, 1 - 2 / (expm1(2|x|) + 2)
  below 22, else +-1;
- sin, cos: x reduced by pi/2 (Cody-Waite with pi/2 in 33 + 33 + 33 + 53 bits, up to
  |x| <= 2^19 pi/2), then the kernel polynomials of degree 13 (sin) and 14 (cos) on [-pi/4, pi/4].

The polynomial coefficients and split constants are fdlibm's (given here by their bit patterns).
Beyond |x| = 2^19 pi/2 (never reached by the Playground) x is reduced by fdlibm's Payne-Hanek
routine __kernel_rem_pio2 with 1584 bits of 2/pi, at V8's precision.
"""

from __future__ import annotations

import math
import struct

__all__ = ["exp", "log", "expm1", "tanh", "sin", "cos"]

_DOUBLE = struct.Struct("<d")
_UINT64 = struct.Struct("<Q")
_INF = float("inf")
_NAN = float("nan")


def _f(bits: int) -> float:
    """The double with these 64 bits."""
    return _DOUBLE.unpack(_UINT64.pack(bits))[0]


def _bits(x: float) -> int:
    return _UINT64.unpack(_DOUBLE.pack(x))[0]


def _high(x: float) -> int:
    """The high 32-bit word of x, as fdlibm's signed int32."""
    word = _UINT64.unpack(_DOUBLE.pack(x))[0] >> 32
    return word - 0x100000000 if word & 0x80000000 else word


def _with_high(x: float, high: int) -> float:
    """x with its high word replaced (fdlibm's SET_HIGH_WORD)."""
    return _DOUBLE.unpack(_UINT64.pack(((high & 0xFFFFFFFF) << 32) | (_bits(x) & 0xFFFFFFFF)))[0]


def _from_high(high: int) -> float:
    """The double with this high word and a zero low word (INSERT_WORDS(d, high, 0))."""
    return _DOUBLE.unpack(_UINT64.pack((high & 0xFFFFFFFF) << 32))[0]


# ---------------------------------------------------------------------------------------------
# exp

_LN2_HI = _f(0x3FE62E42FEE00000)
_LN2_LO = _f(0x3DEA39EF35793C76)
_INV_LN2 = _f(0x3FF71547652B82FE)
_EXP_O_THRESHOLD = _f(0x40862E42FEFA39EF)
_EXP_U_THRESHOLD = _f(0xC0874910D52D3051)
_P1 = _f(0x3FC555555555553E)
_P2 = _f(0xBF66C16C16BEBD93)
_P3 = _f(0x3F11566AAF25DE2C)
_P4 = _f(0xBEBBBD41C5D26BF1)
_P5 = _f(0x3E66376972BEA4D0)
_E = _f(0x4005BF0A8B145769)
_TWO_M1000 = math.ldexp(1.0, -1000)
_TWO_1023 = math.ldexp(1.0, 1023)


def exp(x: float) -> float:
    """e^x, V8's fdlibm exp: x = k ln2 + r, e^r = 1 + r + r c / (2 - c), c = r - r^2 P(r^2)."""
    hx = _bits(x) >> 32
    negative = hx >> 31
    hx &= 0x7FFFFFFF
    if hx >= 0x40862E42:  # |x| >= 709.78...
        if hx >= 0x7FF00000:
            if x != x:
                return x + x
            return x if not negative else 0.0
        if x > _EXP_O_THRESHOLD:
            return _INF
        if x < _EXP_U_THRESHOLD:
            return 0.0
    hi = lo = 0.0
    if hx > 0x3FD62E42:  # |x| > ln2 / 2
        if hx < 0x3FF0A2B2:  # and |x| < 1.5 ln2
            if x == 1.0:
                return _E  # V8 special-cases e, which the formula misses by one bit
            if negative:
                hi, lo, k = x + _LN2_HI, -_LN2_LO, -1
            else:
                hi, lo, k = x - _LN2_HI, _LN2_LO, 1
        else:
            k = int(_INV_LN2 * x + (-0.5 if negative else 0.5))
            t = float(k)
            hi = x - t * _LN2_HI  # exact
            lo = t * _LN2_LO
        x = hi - lo
    elif hx < 0x3E300000:  # |x| < 2^-28
        return 1.0 + x
    else:
        k = 0
    t = x * x
    c = x - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
    if k == 0:
        return 1.0 - ((x * c) / (c - 2.0) - x)
    y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi)
    if k >= -1021:
        if k == 1024:
            return y * 2.0 * _TWO_1023
        return y * _from_high(0x3FF00000 + (k << 20))
    return y * _from_high(0x3FF00000 + ((k + 1000) << 20)) * _TWO_M1000


# ---------------------------------------------------------------------------------------------
# log

_TWO54 = math.ldexp(1.0, 54)
_LG1 = _f(0x3FE5555555555593)
_LG2 = _f(0x3FD999999997FA04)
_LG3 = _f(0x3FD2492494229359)
_LG4 = _f(0x3FCC71C51D8E78AF)
_LG5 = _f(0x3FC7466496CB03DE)
_LG6 = _f(0x3FC39A09D078C69F)
_LG7 = _f(0x3FC2F112DF3E5244)


def log(x: float) -> float:
    """ln x, V8's fdlibm log: x = 2^k (1 + f), log(1 + f) = 2s + s R(s^2), s = f / (2 + f)."""
    bits = _bits(x)
    hx = bits >> 32
    if hx & 0x80000000:
        hx -= 0x100000000
    k = 0
    if hx < 0x00100000:  # x < 2^-1022: zero, negative or subnormal
        if ((hx & 0x7FFFFFFF) | (bits & 0xFFFFFFFF)) == 0:
            return -_INF
        if hx < 0:
            return _NAN
        k -= 54
        x *= _TWO54
        hx = _high(x)
    if hx >= 0x7FF00000:
        return x + x
    k += (hx >> 20) - 1023
    hx &= 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    x = _with_high(x, hx | (i ^ 0x3FF00000))  # x or x/2 in [sqrt(2)/2, sqrt(2))
    k += i >> 20
    f = x - 1.0
    if (0x000FFFFF & (2 + hx)) < 3:  # -2^-20 <= f < 2^-20
        if f == 0.0:
            if k == 0:
                return 0.0
            dk = float(k)
            return dk * _LN2_HI + dk * _LN2_LO
        r = f * f * (0.5 - 0.33333333333333333 * f)
        if k == 0:
            return f - r
        dk = float(k)
        return dk * _LN2_HI - ((r - dk * _LN2_LO) - f)
    s = f / (2.0 + f)
    dk = float(k)
    z = s * s
    i = hx - 0x6147A
    w = z * z
    j = 0x6B851 - hx
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    i |= j
    r = t2 + t1
    if i > 0:
        hfsq = 0.5 * f * f
        if k == 0:
            return f - (hfsq - s * (hfsq + r))
        return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)
    if k == 0:
        return f - s * (f - r)
    return dk * _LN2_HI - ((s * (f - r) - dk * _LN2_LO) - f)


# ---------------------------------------------------------------------------------------------
# expm1 and tanh

_Q1 = _f(0xBFA11111111110F4)
_Q2 = _f(0x3F5A01A019FE5585)
_Q3 = _f(0xBF14CE199EAADBB7)
_Q4 = _f(0x3ED0CFCA86E65239)
_Q5 = _f(0xBE8AFDB76E09C32D)


def expm1(x: float) -> float:
    """e^x - 1, V8's fdlibm expm1 (accurate near 0): reduction as exp, with a correction term."""
    hx = _bits(x) >> 32
    negative = hx & 0x80000000
    hx &= 0x7FFFFFFF
    if hx >= 0x4043687A:  # |x| >= 56 ln2
        if hx >= 0x40862E42:  # |x| >= 709.78...
            if hx >= 0x7FF00000:
                if x != x:
                    return x + x
                return x if not negative else -1.0
            if x > _EXP_O_THRESHOLD:
                return _INF
        if negative:
            return -1.0  # x < -56 ln2
    c = 0.0
    if hx > 0x3FD62E42:  # |x| > ln2 / 2
        if hx < 0x3FF0A2B2:  # and |x| < 1.5 ln2
            if not negative:
                hi, lo, k = x - _LN2_HI, _LN2_LO, 1
            else:
                hi, lo, k = x + _LN2_HI, -_LN2_LO, -1
        else:
            k = int(_INV_LN2 * x + (0.5 if not negative else -0.5))
            t = float(k)
            hi = x - t * _LN2_HI  # exact
            lo = t * _LN2_LO
        x = hi - lo
        c = (hi - x) - lo
    elif hx < 0x3C900000:  # |x| < 2^-54
        return x
    else:
        k = 0
    hfx = 0.5 * x
    hxs = x * hfx
    r1 = 1.0 + hxs * (_Q1 + hxs * (_Q2 + hxs * (_Q3 + hxs * (_Q4 + hxs * _Q5))))
    t = 3.0 - r1 * hfx
    e = hxs * ((r1 - t) / (6.0 - x * t))
    if k == 0:
        return x - (x * e - hxs)
    e = x * (e - c) - c
    e -= hxs
    if k == -1:
        return 0.5 * (x - e) - 0.5
    if k == 1:
        if x < -0.25:
            return -2.0 * (e - (x + 0.5))
        return 1.0 + 2.0 * (x - e)
    if k <= -2 or k > 56:  # e^x - 1 from e^x
        y = 1.0 - (e - x)
        if k == 1024:
            y = y * 2.0 * _TWO_1023
        else:
            y = y * _from_high(0x3FF00000 + (k << 20))
        return y - 1.0
    if k < 20:
        t = _from_high(0x3FF00000 - (0x200000 >> k))  # 1 - 2^-k
        y = t - (e - x)
    else:
        t = _from_high((0x3FF - k) << 20)  # 2^-k
        y = x - (e + t)
        y += 1.0
    return y * _from_high(0x3FF00000 + (k << 20))


def tanh(x: float) -> float:
    """tanh x, V8's fdlibm tanh: -t / (t + 2), t = expm1(-2|x|) below 1; 1 - 2 / (expm1(2|x|) + 2)."""
    jx = _bits(x) >> 32
    negative = jx & 0x80000000
    ix = jx & 0x7FFFFFFF
    if ix >= 0x7FF00000:  # inf or NaN
        return (1.0 / x - 1.0) if negative else (1.0 / x + 1.0)
    if ix < 0x40360000:  # |x| < 22
        if ix < 0x3E300000:  # |x| < 2^-28
            return x
        if ix >= 0x3FF00000:  # |x| >= 1
            t = expm1(2.0 * abs(x))
            z = 1.0 - 2.0 / (t + 2.0)
        else:
            t = expm1(-2.0 * abs(x))
            z = -t / (t + 2.0)
    else:
        z = 1.0
    return -z if negative else z


# ---------------------------------------------------------------------------------------------
# sin and cos

_S1 = _f(0xBFC5555555555549)
_S2 = _f(0x3F8111111110F8A6)
_S3 = _f(0xBF2A01A019C161D5)
_S4 = _f(0x3EC71DE357B1FE7D)
_S5 = _f(0xBE5AE5E68A2B9CEB)
_S6 = _f(0x3DE5D93A5ACFD57C)
_C1 = _f(0x3FA555555555554C)
_C2 = _f(0xBF56C16C16C15177)
_C3 = _f(0x3EFA01A019CB1590)
_C4 = _f(0xBE927E4F809C52AD)
_C5 = _f(0x3E21EE9EBDB4B1C4)
_C6 = _f(0xBDA8FAE9BE8838D4)
_INV_PIO2 = _f(0x3FE45F306DC9C883)
_PIO2_1 = _f(0x3FF921FB54400000)
_PIO2_1T = _f(0x3DD0B4611A626331)
_PIO2_2 = _f(0x3DD0B4611A600000)
_PIO2_2T = _f(0x3BA3198A2E037073)
_PIO2_3 = _f(0x3BA3198A2E000000)
_PIO2_3T = _f(0x397B839A252049C1)
# high words of n pi/2 for n = 1..32: where the quick reduction may cancel
_NPIO2_HW = (
    0x3FF921FB, 0x400921FB, 0x4012D97C, 0x401921FB, 0x401F6A7A, 0x4022D97C, 0x4025FDBB, 0x402921FB,
    0x402C463A, 0x402F6A7A, 0x4031475C, 0x4032D97C, 0x40346B9C, 0x4035FDBB, 0x40378FDB, 0x403921FB,
    0x403AB41B, 0x403C463A, 0x403DD85A, 0x403F6A7A, 0x40407E4C, 0x4041475C, 0x4042106C, 0x4042D97C,
    0x4043A28C, 0x40446B9C, 0x404534AC, 0x4045FDBB, 0x4046C6CB, 0x40478FDB, 0x404858EB, 0x404921FB,
)


def _kernel_sin(x: float, y: float, iy: int) -> float:
    """sin(x + y) on [-pi/4, pi/4]: x + S1 x^3 + ... + S6 x^13, with the tail y."""
    if (_bits(x) >> 32) & 0x7FFFFFFF < 0x3E400000 and int(x) == 0:  # |x| < 2^-27
        return x
    z = x * x
    v = z * x
    r = _S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))
    if iy == 0:
        return x + v * (_S1 + z * r)
    return x - ((z * (0.5 * y - v * r) - y) - v * _S1)


def _kernel_cos(x: float, y: float) -> float:
    """cos(x + y) on [-pi/4, pi/4]: 1 - x^2/2 + C1 x^4 + ... + C6 x^14, with the tail y."""
    ix = (_bits(x) >> 32) & 0x7FFFFFFF
    if ix < 0x3E400000 and int(x) == 0:  # |x| < 2^-27
        return 1.0
    z = x * x
    r = z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    if ix < 0x3FD33333:  # |x| < 0.3
        return 1.0 - (0.5 * z - (z * r - x * y))
    qx = 0.28125 if ix > 0x3FE90000 else _from_high(ix - 0x00200000)  # |x| / 4, chopped
    iz = 0.5 * z - qx
    a = 1.0 - qx
    return a - (iz - (z * r - x * y))


def _rem_pio2(x: float, hx: int, ix: int):
    """(n, y0, y1) with x = n pi/2 + y0 + y1, |y0 + y1| <= pi/4, for pi/4 < |x| <= 2^19 pi/2."""
    if ix < 0x4002D97C:  # |x| < 3pi/4: n = +-1
        if hx > 0:
            z = x - _PIO2_1
            if ix != 0x3FF921FB:  # 33 + 53 bits of pi/2 suffice
                y0 = z - _PIO2_1T
                return 1, y0, (z - y0) - _PIO2_1T
            z -= _PIO2_2  # near pi/2: 33 + 33 + 53 bits
            y0 = z - _PIO2_2T
            return 1, y0, (z - y0) - _PIO2_2T
        z = x + _PIO2_1
        if ix != 0x3FF921FB:
            y0 = z + _PIO2_1T
            return -1, y0, (z - y0) + _PIO2_1T
        z += _PIO2_2
        y0 = z + _PIO2_2T
        return -1, y0, (z - y0) + _PIO2_2T
    t = abs(x)
    n = int(t * _INV_PIO2 + 0.5)
    fn = float(n)
    r = t - fn * _PIO2_1
    w = fn * _PIO2_1T  # good to 85 bits
    if n < 32 and ix != _NPIO2_HW[n - 1]:
        y0 = r - w  # no cancellation
    else:
        j = ix >> 20
        y0 = r - w
        if j - ((_bits(y0) >> 52) & 0x7FF) > 16:  # second iteration, good to 118 bits
            t = r
            w = fn * _PIO2_2
            r = t - w
            w = fn * _PIO2_2T - ((t - r) - w)
            y0 = r - w
            if j - ((_bits(y0) >> 52) & 0x7FF) > 49:  # third iteration, 151 bits
                t = r
                w = fn * _PIO2_3
                r = t - w
                w = fn * _PIO2_3T - ((t - r) - w)
                y0 = r - w
    y1 = (r - y0) - w
    if hx < 0:
        return -n, -y0, -y1
    return n, y0, y1


# 2/pi to 1584 bits (fdlibm's two_over_pi: 66 chunks of 24 bits), for the large arguments
_TWO_OVER_PI = (
    0xA2F983, 0x6E4E44, 0x1529FC, 0x2757D1, 0xF534DD, 0xC0DB62, 0x95993C, 0x439041, 0xFE5163, 0xABDEBB,
    0xC561B7, 0x246E3A, 0x424DD2, 0xE00649, 0x2EEA09, 0xD1921C, 0xFE1DEB, 0x1CB129, 0xA73EE8, 0x8235F5,
    0x2EBB44, 0x84E99C, 0x7026B4, 0x5F7E41, 0x3991D6, 0x398353, 0x39F49C, 0x845F8B, 0xBDF928, 0x3B1FF8,
    0x97FFDE, 0x05980F, 0xEF2F11, 0x8B5A0A, 0x6D1F6D, 0x367ECF, 0x27CB09, 0xB74F46, 0x3F669E, 0x5FEA2D,
    0x7527BA, 0xC7EBE5, 0xF17B3D, 0x0739F7, 0x8A5292, 0xEA6BFB, 0x5FB11F, 0x8D5D08, 0x560330, 0x46FC7B,
    0x6BABF0, 0xCFBC20, 0x9AF436, 0x1DA9E3, 0x91615E, 0xE61B08, 0x659985, 0x5F14A0, 0x68408D, 0xFFD880,
    0x4D7327, 0x310606, 0x1556CA, 0x73A8C9, 0x60E27B, 0xC08C6B,
)


_PIO2_CHUNKS = tuple(_f(bits) for bits in (  # pi/2 cut into 24-bit pieces
    0x3FF921FB40000000, 0x3E74442D00000000, 0x3CF8469880000000, 0x3B78CC5160000000,
    0x39F01B8380000000, 0x387A252040000000, 0x36E3822280000000, 0x3569F31D00000000))
_TWO24 = 16777216.0
_TWON24 = 1.0 / _TWO24


def _kernel_rem_pio2(x: list, e0: int, nx: int):
    """fdlibm's __kernel_rem_pio2 at V8's precision (prec 2, jk = 4): (n mod 8, y0, y1) for the
    positive number sum x[i] 2^(e0 - 24 i), multiplied by 2/pi chunk by chunk, skipping the
    chunks that only add multiples of 8."""
    jk = jp = 4
    jx = nx - 1
    jv = max(int((e0 - 3) / 24), 0)
    q0 = e0 - 24 * (jv + 1)
    f = [0.0] * 20
    q = [0.0] * 20
    iq = [0] * 20
    fq = [0.0] * 20
    j = jv - jx
    for i in range(jx + jk + 1):
        f[i] = 0.0 if j < 0 else float(_TWO_OVER_PI[j])
        j += 1
    for i in range(jk + 1):
        fw = 0.0
        for j in range(jx + 1):
            fw += x[j] * f[jx + i - j]
        q[i] = fw
    jz = jk
    while True:  # "recompute"
        i, j, z = 0, jz, q[jz]
        while j > 0:  # distill q[] into 24-bit chunks iq[], reversed
            fw = float(int(_TWON24 * z))
            iq[i] = int(z - _TWO24 * fw)
            z = q[j - 1] + fw
            i += 1
            j -= 1
        z = math.ldexp(z, q0)
        z -= 8.0 * math.floor(z * 0.125)  # drop multiples of 8
        n = int(z)
        z -= float(n)
        ih = 0
        if q0 > 0:  # iq[jz - 1] holds bits of n
            i = iq[jz - 1] >> (24 - q0)
            n += i
            iq[jz - 1] -= i << (24 - q0)
            ih = iq[jz - 1] >> (23 - q0)
        elif q0 == 0:
            ih = iq[jz - 1] >> 23
        elif z >= 0.5:
            ih = 2
        if ih > 0:  # the fraction is >= 1/2: take 1 - fraction, n + 1
            n += 1
            carry = 0
            for i in range(jz):
                j = iq[i]
                if carry == 0:
                    if j != 0:
                        carry = 1
                        iq[i] = 0x1000000 - j
                else:
                    iq[i] = 0xFFFFFF - j
            if q0 == 1:
                iq[jz - 1] &= 0x7FFFFF
            elif q0 == 2:
                iq[jz - 1] &= 0x3FFFFF
            if ih == 2:
                z = 1.0 - z
                if carry != 0:
                    z -= math.ldexp(1.0, q0)
        if z == 0.0:
            j = 0
            for i in range(jz - 1, jk - 1, -1):
                j |= iq[i]
            if j == 0:  # too much cancellation: take more chunks of 2/pi
                k = 1
                while jk >= k and iq[jk - k] == 0:
                    k += 1
                for i in range(jz + 1, jz + k + 1):
                    f[jx + i] = float(_TWO_OVER_PI[jv + i])
                    fw = 0.0
                    for j in range(jx + 1):
                        fw += x[j] * f[jx + i - j]
                    q[i] = fw
                jz += k
                continue
        break
    if z == 0.0:  # chop off zero chunks
        jz -= 1
        q0 -= 24
        while iq[jz] == 0:
            jz -= 1
            q0 -= 24
    else:  # break z into 24-bit chunks if needed
        z = math.ldexp(z, -q0)
        if z >= _TWO24:
            fw = float(int(_TWON24 * z))
            iq[jz] = int(z - _TWO24 * fw)
            jz += 1
            q0 += 24
            iq[jz] = int(fw)
        else:
            iq[jz] = int(z)
    fw = math.ldexp(1.0, q0)
    for i in range(jz, -1, -1):
        q[i] = fw * iq[i]
        fw *= _TWON24
    for i in range(jz, -1, -1):  # pi/2 chunks times the fraction's chunks
        fw = 0.0
        k = 0
        while k <= jp and k <= jz - i:
            fw += _PIO2_CHUNKS[k] * q[i + k]
            k += 1
        fq[jz - i] = fw
    fw = 0.0
    for i in range(jz, -1, -1):
        fw += fq[i]
    y0 = fw if ih == 0 else -fw
    fw = fq[0] - fw
    for i in range(1, jz + 1):
        fw += fq[i]
    y1 = fw if ih == 0 else -fw
    return n & 7, y0, y1


def _rem_pio2_large(x: float):
    """(n, y0, y1) for |x| > 2^19 pi/2 (fdlibm's large-argument branch of __ieee754_rem_pio2):
    |x| cut into three 24-bit pieces scaled by 2^-e0, then __kernel_rem_pio2."""
    ix = (_bits(x) >> 32) & 0x7FFFFFFF
    e0 = (ix >> 20) - 1046  # ilogb(|x|) - 23
    z = math.ldexp(abs(x), -e0)  # in [2^23, 2^24)
    tx = [0.0, 0.0, 0.0]
    for i in range(2):
        tx[i] = float(int(z))
        z = (z - tx[i]) * _TWO24
    tx[2] = z
    nx = 3
    while tx[nx - 1] == 0.0:
        nx -= 1
    n, y0, y1 = _kernel_rem_pio2(tx, e0, nx)
    return (-n, -y0, -y1) if x < 0 else (n, y0, y1)


def sin(x: float) -> float:
    """sin x, V8's fdlibm sin: x reduced by pi/2, then the kernel sin or cos by the quadrant."""
    hx = _high(x)
    ix = hx & 0x7FFFFFFF
    if ix <= 0x3FE921FB:  # |x| <= pi/4
        return _kernel_sin(x, 0.0, 0)
    if ix >= 0x7FF00000:
        return x - x
    n, y0, y1 = _rem_pio2(x, hx, ix) if ix <= 0x413921FB else _rem_pio2_large(x)
    n &= 3
    if n == 0:
        return _kernel_sin(y0, y1, 1)
    if n == 1:
        return _kernel_cos(y0, y1)
    if n == 2:
        return -_kernel_sin(y0, y1, 1)
    return -_kernel_cos(y0, y1)


def cos(x: float) -> float:
    """cos x, V8's fdlibm cos: x reduced by pi/2, then the kernel cos or sin by the quadrant."""
    hx = _high(x)
    ix = hx & 0x7FFFFFFF
    if ix <= 0x3FE921FB:  # |x| <= pi/4
        return _kernel_cos(x, 0.0)
    if ix >= 0x7FF00000:
        return x - x
    n, y0, y1 = _rem_pio2(x, hx, ix) if ix <= 0x413921FB else _rem_pio2_large(x)
    n &= 3
    if n == 0:
        return _kernel_cos(y0, y1)
    if n == 1:
        return -_kernel_sin(y0, y1, 1)
    if n == 2:
        return -_kernel_cos(y0, y1)
    return _kernel_sin(y0, y1, 1)
