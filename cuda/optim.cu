// The optimiser: global gradient norm, clipping and Adam over the one flat
// buffer that holds every gradient.
#include "common.cuh"

// sum_squares writes one partial sum of squares of g per block.
// Launch: block THREADS; partial has a slot per block.
KERNEL(sum_squares, long long n, const float* __restrict__ g, float* __restrict__ partial) {
    __shared__ float red[THREADS];
    float s = 0.0f;
    FOR_EACH(i, n) s += g[i] * g[i];
    s = block_sum(s, red);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// clip_scale adds up the partial sums and writes the gradient norm to
// scalars[4] and the clipping factor to scalars[5]: clip/norm when the
// norm exceeds clip > 0, else 1. Launch: one block of THREADS.
KERNEL(clip_scale, int parts, const float* __restrict__ partial, float clip, float* __restrict__ scalars) {
    __shared__ float red[THREADS];
    float s = 0.0f;
    for (int i = threadIdx.x; i < parts; i += THREADS) s += partial[i];
    s = block_sum(s, red);
    if (threadIdx.x == 0) {
        float norm = sqrtf(s);
        scalars[4] = norm;
        scalars[5] = (clip > 0.0f && norm > clip) ? clip / norm : 1.0f;
    }
}

// adam is one Adam step (Kingma & Ba 2015) on n weights, with the gradient
// scaled by *scale (clipping) and bias corrections c1 = 1 − β1^t and
// c2 = 1 − β2^t; as model/adam.go.
KERNEL(adam, long long n, float* __restrict__ w, const float* __restrict__ g, float* __restrict__ m,
       float* __restrict__ v, const float* __restrict__ scale, float lr, float c1, float c2) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    float s = *scale;
    FOR_EACH(i, n) {
        float gi = g[i] * s;
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + eps);
    }
}
