"""Every hand-written @njit body of the Numba backend, in one file.

Numba's on-disk cache is keyed on the file a function lives in and ignores edits to the files of
the functions it calls, so the per-op kernels share this module, and the training steps generated
per model (``_stepgen``) are written to files named by the hash of this one. Nothing here compiles at import: each function compiles on its first call for
the dtype in hand (float32 or float64) and is cached on disk (``cache=True``).

Conventions: arithmetic stays in the array's dtype (constants are cast with ``T = type(x)``, so a
float32 kernel never widens to float64); loss sums accumulate in float64. Row-wise kernels take
2-D C-contiguous arrays; the Python wrappers reshape.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# fast-math without "nnan"/"ninf": NaN and inf checks (losses, TerminateOnNaN) keep working
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
_jit = njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True)
# the same body jitted a second time with threads (umap's layouts.py pattern): the wrappers pick
# serial or parallel by size, because thread start-up loses on small arrays
_pjit = njit(cache=True, fastmath=FASTMATH, error_model="numpy", nogil=True, parallel=True)

# activation codes, in nnkit.ops.ACTIVATION_NAMES order
STEP, LINEAR, SIGMOID, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS, GELU, SILU, SOFTMAX = range(11)
LEAKY_SLOPE = 0.1
GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715
PROB_EPS = 1e-7

# loss codes
MSE, SOFTMAX_CE, SPARSE_SOFTMAX_CE, SIGMOID_BCE, BCE, CCE, SPARSE_CCE = range(7)
# optimizer codes
SGD, ADAGRAD, RMSPROP, ADAM, ADAMW = range(5)


# -- scalar activations ---------------------------------------------------------------------------
@_jit
def _sigmoid(x):
    """y = 1 / (1 + exp(-x)), no overflow: exp(-|x|) <= 1."""
    T = type(x)
    e = math.exp(-abs(x))
    return T(1.0) / (T(1.0) + e) if x >= T(0.0) else e / (T(1.0) + e)


@_jit
def _gelu(x):
    T = type(x)
    t = math.tanh(T(GELU_C) * (x + T(GELU_A) * x * x * x))
    return T(0.5) * x * (T(1.0) + t)


@_jit
def _gelu_grad(dy, x):
    T = type(x)
    x2 = x * x
    t = math.tanh(T(GELU_C) * (x + T(GELU_A) * x2 * x))
    return dy * (T(0.5) * (T(1.0) + t)
                 + T(0.5) * x * (T(1.0) - t * t) * T(GELU_C) * (T(1.0) + T(3.0 * GELU_A) * x2))


@_jit
def _softplus(x):
    T = type(x)
    return (x if x > T(0.0) else T(0.0)) + math.log1p(math.exp(-abs(x)))


# One scalar pair per elementwise activation: f(x) and dy * f'(x) given y = f(x). The per-op
# kernels (through _act/_act_grad) and the generated training steps (_stepgen) both call these,
# so each formula exists once in this kernel family.
@_jit
def step_scalar(x):
    """y = 1 where x >= 0, else 0."""
    T = type(x)
    return T(1.0) if x >= T(0.0) else T(0.0)


@_jit
def step_backward_scalar(dy, x, y):
    """dx = 0 (the step has no useful derivative)."""
    return type(x)(0.0)


@_jit
def sigmoid_scalar(x):
    return _sigmoid(x)


@_jit
def sigmoid_backward_scalar(dy, x, y):
    """dx = dy y (1 - y)."""
    return dy * y * (type(x)(1.0) - y)


@_jit
def tanh_scalar(x):
    return math.tanh(x)


@_jit
def tanh_backward_scalar(dy, x, y):
    """dx = dy (1 - y^2)."""
    return dy * (type(x)(1.0) - y * y)


@_jit
def relu_scalar(x):
    """y = max(0, x); NaN stays NaN, as np.maximum."""
    T = type(x)
    return T(0.0) if x <= T(0.0) else x


@_jit
def relu_backward_scalar(dy, x, y):
    """dx = dy where x > 0, else 0."""
    return dy if x > type(x)(0.0) else type(x)(0.0)


@_jit
def leaky_relu_scalar(x):
    """y = max(0.1 x, x)."""
    T = type(x)
    return x if x > T(0.0) else T(LEAKY_SLOPE) * x


@_jit
def leaky_relu_backward_scalar(dy, x, y):
    T = type(x)
    return dy if x > T(0.0) else T(LEAKY_SLOPE) * dy


@_jit
def elu_scalar(x):
    """y = x where x >= 0, else exp(x) - 1."""
    return x if x >= type(x)(0.0) else math.expm1(x)


@_jit
def elu_backward_scalar(dy, x, y):
    """dx = dy where x >= 0, else dy (y + 1)."""
    T = type(x)
    return dy if x >= T(0.0) else dy * (y + T(1.0))


@_jit
def softplus_scalar(x):
    return _softplus(x)


@_jit
def softplus_backward_scalar(dy, x, y):
    """dx = dy sigmoid(x)."""
    return dy * _sigmoid(x)


@_jit
def gelu_scalar(x):
    return _gelu(x)


@_jit
def gelu_backward_scalar(dy, x, y):
    return _gelu_grad(dy, x)


@_jit
def silu_scalar(x):
    """y = x sigmoid(x)."""
    return x * _sigmoid(x)


@_jit
def silu_backward_scalar(dy, x, y):
    """dx = dy s (1 + x (1 - s)), s = sigmoid(x)."""
    T = type(x)
    s = _sigmoid(x)
    return dy * s * (T(1.0) + x * (T(1.0) - s))


# activation code -> the name of its scalar pair above (relu, linear and softmax have row forms)
SCALAR_NAMES = {STEP: "step", SIGMOID: "sigmoid", TANH: "tanh", RELU: "relu",
                LEAKY_RELU: "leaky_relu", ELU: "elu", SOFTPLUS: "softplus", GELU: "gelu",
                SILU: "silu"}


@_jit
def _act(x, code):
    """f(x) for the elementwise activations other than relu and linear."""
    if code == SIGMOID:
        return sigmoid_scalar(x)
    if code == TANH:
        return tanh_scalar(x)
    if code == LEAKY_RELU:
        return leaky_relu_scalar(x)
    if code == ELU:
        return elu_scalar(x)
    if code == SOFTPLUS:
        return softplus_scalar(x)
    if code == GELU:
        return gelu_scalar(x)
    if code == SILU:
        return silu_scalar(x)
    return step_scalar(x)


@_jit
def _act_grad(dy, x, y, code):
    """dy * f'(x) for the elementwise activations other than relu and linear."""
    if code == SIGMOID:
        return sigmoid_backward_scalar(dy, x, y)
    if code == TANH:
        return tanh_backward_scalar(dy, x, y)
    if code == LEAKY_RELU:
        return leaky_relu_backward_scalar(dy, x, y)
    if code == ELU:
        return elu_backward_scalar(dy, x, y)
    if code == SOFTPLUS:
        return softplus_backward_scalar(dy, x, y)
    if code == GELU:
        return gelu_backward_scalar(dy, x, y)
    if code == SILU:
        return silu_backward_scalar(dy, x, y)
    return step_backward_scalar(dy, x, y)


@_jit
def _softmax_row(a, y, i):
    """y[i] = exp(a[i] - max) / sum exp(a[i] - max)."""
    T = a.dtype.type
    m = a.shape[1]
    mx = a[i, 0]
    for j in range(1, m):
        mx = max(mx, a[i, j])
    s = T(0.0)
    for j in range(m):
        e = math.exp(a[i, j] - mx)
        y[i, j] = e
        s += e
    r = T(1.0) / s
    for j in range(m):
        y[i, j] *= r


@_jit
def _softmax_grad_row(dy, y, dx, i):
    """dx[i] = y[i] * (dy[i] - <dy[i], y[i]>), the softmax Jacobian-vector product (dx may alias dy)."""
    T = y.dtype.type
    s = T(0.0)
    for j in range(y.shape[1]):
        s += dy[i, j] * y[i, j]
    for j in range(y.shape[1]):
        dx[i, j] = y[i, j] * (dy[i, j] - s)


# relu and linear get loops of their own (they vectorise and carry the big layers); the other
# activations call libm per element anyway, so one loop with a switch serves them all and keeps
# compile time low
@_jit
def _act_row(a, y, i, code):
    """y[i] = f(a[i]) for one row."""
    m = a.shape[1]
    if code == RELU:
        for j in range(m):
            y[i, j] = relu_scalar(a[i, j])
    elif code == LINEAR:
        for j in range(m):
            y[i, j] = a[i, j]
    elif code == SOFTMAX:
        _softmax_row(a, y, i)
    else:
        for j in range(m):
            y[i, j] = _act(a[i, j], code)


@_jit
def _grad_row(dy, a, y, dx, i, code):
    """dx[i] = dy[i] * f'(a[i]) from the forward's input a and output y (dx may alias dy)."""
    m = a.shape[1]
    if code == RELU:
        for j in range(m):
            dx[i, j] = relu_backward_scalar(dy[i, j], a[i, j], y[i, j])
    elif code == LINEAR:
        for j in range(m):
            dx[i, j] = dy[i, j]
    elif code == SOFTMAX:
        _softmax_grad_row(dy, y, dx, i)
    else:
        for j in range(m):
            dx[i, j] = _act_grad(dy[i, j], a[i, j], y[i, j], code)


# -- activation kernels ---------------------------------------------------------------------------
def _activation_body(x, y, code):
    for i in prange(x.shape[0]):
        _act_row(x, y, i, code)


def _activation_backward_body(dy, x, y, dx, code):
    for i in prange(x.shape[0]):
        _grad_row(dy, x, y, dx, i, code)


def _bias_activation_body(z, b, y, has_bias, code):
    """a = z + b in z's buffer, y = f(a), row by row while the row is in cache."""
    m = z.shape[1]
    for i in prange(z.shape[0]):
        if has_bias:
            for j in range(m):
                z[i, j] += b[j]
        _act_row(z, y, i, code)


def _bias_activation_backward_body(dy, a, y, da, code):
    for i in prange(a.shape[0]):
        _grad_row(dy, a, y, da, i, code)


activation_serial = _jit(_activation_body)
activation_parallel = _pjit(_activation_body)
activation_backward_serial = _jit(_activation_backward_body)
activation_backward_parallel = _pjit(_activation_backward_body)
bias_activation_serial = _jit(_bias_activation_body)
bias_activation_parallel = _pjit(_bias_activation_body)
bias_activation_backward_parallel = _pjit(_bias_activation_backward_body)


@_jit
def _column_sum(da, db):
    """db_j = sum_i da_ij, rows added in order (vectorised over j)."""
    T = da.dtype.type
    for j in range(da.shape[1]):
        db[j] = T(0.0)
    for i in range(da.shape[0]):
        for j in range(da.shape[1]):
            db[j] += da[i, j]


@_jit
def _zero(v):
    """v = 0, a 1-D array."""
    T = v.dtype.type
    for j in range(v.shape[0]):
        v[j] = T(0.0)


@_jit
def bias_activation_backward_serial(dy, a, y, da, db, with_bias, code):
    """da = dy * f'(a) and, in the same pass, db = column sums of da."""
    m = a.shape[1]
    if with_bias:
        _zero(db)
    for i in range(a.shape[0]):
        _grad_row(dy, a, y, da, i, code)
        if with_bias:
            for j in range(m):
                db[j] += da[i, j]


column_sum = _column_sum


# -- the table step's layer epilogues -------------------------------------------------------------
# The table step (TableStep) picks one loop per layer by its activation code: the common
# activations get a loop of their own, which inlines the scalar and vectorises, where a switch
# per element does neither; the backward works in place on d, one array, where the per-op
# kernel's separate dy and da (the same memory here) fail the vectoriser's overlap check. Measured
# per step, float32, in one process (us, the per-op bodies / these): W1 9.6 / 6.9, W2 31.8 / 25.8.
@_jit
def layer_forward(a, b, y, has_bias, code):
    """a += b where has_bias, then y = f(a), row by row while the row is in cache (y unused for
    linear: the layer hands on a)."""
    m = a.shape[1]
    for i in range(a.shape[0]):
        if has_bias:
            for j in range(m):
                a[i, j] += b[j]
        if code == RELU:
            for j in range(m):
                y[i, j] = relu_scalar(a[i, j])
        elif code == TANH:
            for j in range(m):
                y[i, j] = tanh_scalar(a[i, j])
        elif code == SIGMOID:
            for j in range(m):
                y[i, j] = sigmoid_scalar(a[i, j])
        elif code == SOFTMAX:
            _softmax_row(a, y, i)
        elif code != LINEAR:
            for j in range(m):
                y[i, j] = _act(a[i, j], code)


@_jit
def layer_backward(d, a, y, db, has_bias, code):
    """d = d * f'(a) in place (given y = f(a)) and, where has_bias, db = its column sums, rows
    added in order (as the per-op kernels add them)."""
    m = a.shape[1]
    if has_bias:
        _zero(db)
    for i in range(a.shape[0]):
        if code == RELU:
            for j in range(m):
                d[i, j] = relu_backward_scalar(d[i, j], a[i, j], y[i, j])
        elif code == TANH:
            for j in range(m):
                d[i, j] = tanh_backward_scalar(d[i, j], a[i, j], y[i, j])
        elif code == SIGMOID:
            for j in range(m):
                d[i, j] = sigmoid_backward_scalar(d[i, j], a[i, j], y[i, j])
        elif code == SOFTMAX:
            _softmax_grad_row(d, y, d, i)
        elif code != LINEAR:
            for j in range(m):
                d[i, j] = _act_grad(d[i, j], a[i, j], y[i, j], code)
        if has_bias:
            for j in range(m):
                db[j] += d[i, j]


# -- dropout --------------------------------------------------------------------------------------
def _dropout_body(x, u, rate, scale, y, mask):
    """mask = (u >= rate) * scale, y = x * mask; flat arrays."""
    T = x.dtype.type
    for i in prange(x.shape[0]):
        mi = scale if u[i] >= rate else T(0.0)
        mask[i] = mi
        y[i] = x[i] * mi


def _multiply_body(a, b, out):
    for i in prange(a.shape[0]):
        out[i] = a[i] * b[i]


dropout_serial = _jit(_dropout_body)
dropout_parallel = _pjit(_dropout_body)
multiply_serial = _jit(_multiply_body)
multiply_parallel = _pjit(_multiply_body)


# -- losses (loss and gradient in one pass; sums in float64) -------------------------------------
@_jit
def mse(pred, target, grad):
    """E = 1/(2N) sum (p - t)^2, grad = (p - t)/N."""
    T = pred.dtype.type
    n = pred.shape[0]
    inv = T(1.0 / n)
    total = 0.0
    for i in range(n):
        for j in range(pred.shape[1]):
            d = pred[i, j] - target[i, j]
            total += d * d
            grad[i, j] = d * inv
    return total * (0.5 / n)


@_jit
def _softmax_ce_row(z, i, label, target, grad, inv):
    """One row of softmax cross-entropy; label >= 0 means a one-hot target of that class."""
    T = z.dtype.type
    m = z.shape[1]
    mx = z[i, 0]
    for j in range(1, m):
        mx = max(mx, z[i, j])
    s = T(0.0)
    for j in range(m):
        e = math.exp(z[i, j] - mx)
        grad[i, j] = e
        s += e
    log_s = math.log(s)
    r = T(1.0) / s
    loss = 0.0
    if label >= -1:
        # sparse: E_n = log s - (z_label - max); grad = softmax - onehot (a label out of range
        # is an all-zero target, as one_hot gives)
        if 0 <= label < m:
            loss = float(log_s - (z[i, label] - mx))
            for j in range(m):
                grad[i, j] = grad[i, j] * r
            grad[i, label] -= T(1.0)
            for j in range(m):
                grad[i, j] *= inv
        else:
            for j in range(m):
                grad[i, j] = T(0.0)
    else:
        t_sum = T(0.0)
        for j in range(m):
            t = target[i, j]
            t_sum += t
            loss += float(t * (log_s - (z[i, j] - mx)))
        for j in range(m):
            grad[i, j] = (grad[i, j] * r * t_sum - target[i, j]) * inv
    return loss


@_jit
def softmax_cross_entropy(logits, target, grad):
    """E = 1/N sum_n sum_j t_nj (logsumexp z_n - z_nj); grad = (softmax(z) sum_j t_nj - t)/N."""
    T = logits.dtype.type
    n = logits.shape[0]
    inv = T(1.0 / n)
    total = 0.0
    for i in range(n):
        total += _softmax_ce_row(logits, i, -2, target, grad, inv)
    return total / n


@_jit
def sparse_softmax_cross_entropy(logits, labels, grad):
    """E = 1/N sum_n (logsumexp z_n - z_(n, label_n)); grad = (softmax(z) - onehot)/N."""
    T = logits.dtype.type
    n = logits.shape[0]
    inv = T(1.0 / n)
    total = 0.0
    for i in range(n):
        total += _softmax_ce_row(logits, i, labels[i], logits, grad, inv)
    return total / n


@_jit
def sigmoid_binary_cross_entropy(logits, target, grad):
    """E = 1/N sum [max(z, 0) - z t + log1p(exp(-|z|))]; grad = (sigmoid(z) - t)/N."""
    T = logits.dtype.type
    n = logits.shape[0]
    inv = T(1.0 / n)
    total = 0.0
    for i in range(n):
        for j in range(logits.shape[1]):
            z = logits[i, j]
            t = target[i, j]
            e = math.exp(-abs(z))
            total += float((z if z > T(0.0) else T(0.0)) - z * t + math.log1p(e))
            sig = T(1.0) / (T(1.0) + e) if z >= T(0.0) else e / (T(1.0) + e)
            grad[i, j] = (sig - t) * inv
    return total / n


@_jit
def binary_cross_entropy(prob, target, grad):
    """E = -1/N sum [t log p + (1 - t) log(1 - p)], p clipped; grad = (p - t)/(p (1 - p))/N."""
    T = prob.dtype.type
    n = prob.shape[0]
    inv = T(1.0 / n)
    lo = T(PROB_EPS)
    hi = T(1.0 - PROB_EPS)
    total = 0.0
    for i in range(n):
        for j in range(prob.shape[1]):
            p = min(max(prob[i, j], lo), hi)
            t = target[i, j]
            total += float(t * math.log(p) + (T(1.0) - t) * math.log(T(1.0) - p))
            grad[i, j] = (p - t) / (p * (T(1.0) - p)) * inv
    return -total / n


@_jit
def categorical_cross_entropy(prob, target, grad):
    """E = -1/N sum t log p, p clipped to [eps, 1]; grad = -t/p/N."""
    T = prob.dtype.type
    n = prob.shape[0]
    inv = T(1.0 / n)
    lo = T(PROB_EPS)
    total = 0.0
    for i in range(n):
        for j in range(prob.shape[1]):
            p = min(max(prob[i, j], lo), T(1.0))
            t = target[i, j]
            total += float(t * math.log(p))
            grad[i, j] = -(t / p) * inv
    return -total / n


@_jit
def sparse_categorical_cross_entropy(prob, labels, grad):
    """E = -1/N sum_n log p_(n, label_n), p clipped; grad = -onehot/p/N."""
    T = prob.dtype.type
    n = prob.shape[0]
    inv = T(1.0 / n)
    lo = T(PROB_EPS)
    total = 0.0
    for i in range(n):
        for j in range(prob.shape[1]):
            grad[i, j] = -T(0.0)
        k = labels[i]
        if 0 <= k < prob.shape[1]:
            p = min(max(prob[i, k], lo), T(1.0))
            total += float(math.log(p))
            grad[i, k] = -(T(1.0) / p) * inv
    return -total / n


# -- optimizer updates (flat, in place, hyperparameters already in the array's dtype) -----------
def _sgd_body(w, g, v, lr, momentum, nesterov, weight_decay):
    """torch.optim.SGD: g' = g + wd W; V = mu V + g'; W -= lr (g' + mu V) or lr V (or lr g')."""
    for i in prange(w.shape[0]):
        gi = g[i]
        if weight_decay != 0:
            gi = gi + weight_decay * w[i]
        if momentum != 0:
            vi = momentum * v[i] + gi
            v[i] = vi
            gi = gi + momentum * vi if nesterov else vi
        w[i] -= lr * gi


def _adagrad_body(w, g, s, clr, weight_decay, eps):
    """S += g'^2; W -= clr g' / (sqrt(S) + eps)."""
    for i in prange(w.shape[0]):
        gi = g[i]
        if weight_decay != 0:
            gi = gi + weight_decay * w[i]
        si = s[i] + gi * gi
        s[i] = si
        w[i] -= clr * (gi / (math.sqrt(si) + eps))


def _rmsprop_body(w, g, sq, buf, g_avg, lr, alpha, one_minus_alpha, eps, weight_decay, momentum,
                  centered):
    """S = a S + (1 - a) g'^2; D = sqrt(S [- G^2]) + eps; B = mu B + g'/D, W -= lr B (or lr g'/D)."""
    for i in prange(w.shape[0]):
        gi = g[i]
        if weight_decay != 0:
            gi = gi + weight_decay * w[i]
        si = alpha * sq[i] + one_minus_alpha * (gi * gi)
        sq[i] = si
        if centered:
            ga = alpha * g_avg[i] + one_minus_alpha * gi
            g_avg[i] = ga
            denom = math.sqrt(si - ga * ga) + eps
        else:
            denom = math.sqrt(si) + eps
        if momentum != 0:
            bi = momentum * buf[i] + gi / denom
            buf[i] = bi
            w[i] -= lr * bi
        else:
            w[i] -= lr * (gi / denom)


def _adam_body(w, g, m, v, step_size, bias_correction2_sqrt, beta1, one_minus_b1, beta2,
               one_minus_b2, eps, weight_decay, decay_factor):
    """Adam: g' = g + wd W (AdamW: W *= decay_factor first); M, V moments; one pass."""
    T = w.dtype.type
    for i in prange(w.shape[0]):
        wi = w[i]
        gi = g[i]
        if decay_factor != T(1.0):
            wi = wi * decay_factor
        if weight_decay != 0:
            gi = gi + weight_decay * wi
        mi = beta1 * m[i] + one_minus_b1 * gi
        vi = beta2 * v[i] + one_minus_b2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        w[i] = wi - step_size * (mi / (math.sqrt(vi) / bias_correction2_sqrt + eps))


@_jit
def elastic_net(w, g, l1, l2, two_l2):
    """P = l1 sum |W| + l2 sum W^2 (sums in float64), returned; g += l1 sign(W) + 2 l2 W. 1-D."""
    T = w.dtype.type
    s1 = 0.0
    s2 = 0.0
    for i in range(w.shape[0]):
        v = w[i]
        s1 += abs(v)
        s2 += v * v
        sign = T(1.0) if v > T(0.0) else (T(-1.0) if v < T(0.0) else v)  # v: 0 or NaN, as np.sign
        g[i] = g[i] + (l1 * sign + two_l2 * v)
    return l1 * s1 + l2 * s2


sgd_serial = _jit(_sgd_body)
sgd_parallel = _pjit(_sgd_body)
adagrad_serial = _jit(_adagrad_body)
adagrad_parallel = _pjit(_adagrad_body)
rmsprop_serial = _jit(_rmsprop_body)
rmsprop_parallel = _pjit(_rmsprop_body)
adam_serial = _jit(_adam_body)
adam_parallel = _pjit(_adam_body)


@_jit
def _add(p, q, out):
    """out = p + q, elementwise over 2-D arrays (out may be q)."""
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            out[i, j] = p[i, j] + q[i, j]


# -- matrix products of the one-call training step ------------------------------------------------
# Below SMALL_GEMM multiply-adds a plain loop beats a BLAS call's fixed cost; above it np.dot
# calls BLAS (SciPy's OpenBLAS: Numba binds scipy.linalg.cython_blas). Measured per call, float32
# (float64 alike), loop / np.dot in us with ~0.27 us of call overhead in both, summed over the
# three products: 8x2x8 (128 MACs) 0.99 / 1.23, 8x8x8 (512) 1.36 / 1.29, 32x2x8 (512) 1.45 / 1.32,
# 8x16x16 (2048) 1.65 / 1.29, 32x32x16 (16384) 7.93 / 2.49, 32x64x10 (20480) 17.5 / 3.2. Whole
# one-call step, float32, SGD momentum: 16-32-16-4 batch 32 13.7 us at 16384 -> 10.0 us at 512;
# 2-8-8-2 batch 10 and 64-128-64-10 batch 32 unchanged (6.6 and 41 us).
SMALL_GEMM = 512


@_jit
def _mm(x, w, out):
    """out = x @ w."""
    n, k = x.shape
    m = w.shape[1]
    if n * k * m >= SMALL_GEMM:
        np.dot(x, w, out)
        return
    T = x.dtype.type
    for i in range(n):
        for j in range(m):
            out[i, j] = T(0.0)
        for p in range(k):
            xip = x[i, p]
            for j in range(m):
                out[i, j] += xip * w[p, j]


@_jit
def _mm_tn(x, d, out):
    """out = x^T @ d (the weight gradient)."""
    n, k = x.shape
    m = d.shape[1]
    if n * k * m >= SMALL_GEMM:
        np.dot(x.T, d, out)
        return
    T = x.dtype.type
    for p in range(k):
        for j in range(m):
            out[p, j] = T(0.0)
    for i in range(n):
        for p in range(k):
            xip = x[i, p]
            for j in range(m):
                out[p, j] += xip * d[i, j]


@_jit
def _mm_nt(d, w, out):
    """out = d @ w^T (the input gradient)."""
    n, m = d.shape
    k = w.shape[0]
    if n * k * m >= SMALL_GEMM:
        np.dot(d, w.T, out)
        return
    T = d.dtype.type
    for i in range(n):
        for p in range(k):
            s = T(0.0)
            for j in range(m):
                s += d[i, j] * w[p, j]
            out[i, p] = s
