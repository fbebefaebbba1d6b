// Matrix products for every layer, forward and backward.
#include "common.cuh"

// A block of 16×16 threads computes a TM×TN tile of C, each thread a
// (TM/16)×(TN/16) grid of it with stride 16 (so neighbouring threads touch
// neighbouring columns), stepping through K 16 at a time in shared memory.
// The largest products (the output layer's) use 128×128 tiles, whose 8×8
// results a thread make four multiply-adds per shared-memory read to 64×64
// tiles' two; middling ones 64×64; the small ones of the LSTMs' backward
// steps (a batch of rows by the hidden units) 32×32, which give the GPU
// four times as many blocks to spread over its multiprocessors.
#define TILE_K 16

// sgemm_tile sets C (M×N, row stride ldc) to alpha·op(A)·op(B) + bias + beta·C
// in FP32, where op(A) is M×K and op(B) is K×N, and bias (N, or null) is
// added to every row (a layer's bias, at no extra pass over C). A is stored M×K (row stride
// lda), or K×M when transA; B is stored K×N (ldb), or N×K when transB. With
// beta = 0 C is only written, never read, so it may hold anything (even NaN).
// Launch: grid (ceil(N/TN), ceil(M/TM)), block 256.
template <int TM, int TN>
__device__ __forceinline__ void sgemm_tile(int M, int N, int K, float alpha, const float* __restrict__ A, int lda,
                                           int transA, const float* __restrict__ B, int ldb, int transB, float beta,
                                           float* __restrict__ C, int ldc, const float* __restrict__ bias) {
    const int RM = TM / 16, RN = TN / 16;
    // + 1: loading a row-major A (or a transposed B), a warp writes two
    // columns of the tile, 16 rows each; unpadded, the 16 rows' elements
    // share a bank (a 16-way conflict), padded, no bank holds more than two.
    __shared__ float As[TILE_K][TM + 1];
    __shared__ float Bs[TILE_K][TN + 1];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int m0 = blockIdx.y * TM, n0 = blockIdx.x * TN;
    float acc[RM][RN];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        // Load the tiles, reading along each matrix's contiguous dimension.
        for (int l = tid; l < TM * TILE_K; l += 256) {
            int mm = transA ? l % TM : l / TILE_K;
            int kk = transA ? l / TM : l % TILE_K;
            int gm = m0 + mm, gk = k0 + kk;
            float v = 0.0f;
            if (gm < M && gk < K) v = transA ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk];
            As[kk][mm] = v;
        }
        for (int l = tid; l < TILE_K * TN; l += 256) {
            int nn = transB ? l / TILE_K : l % TN;
            int kk = transB ? l % TILE_K : l / TN;
            int gk = k0 + kk, gn = n0 + nn;
            float v = 0.0f;
            if (gk < K && gn < N) v = transB ? B[(long long)gn * ldb + gk] : B[(long long)gk * ldb + gn];
            Bs[kk][nn] = v;
        }
        __syncthreads();
        for (int kk = 0; kk < TILE_K; kk++) {
            float a[RM], b[RN];
            for (int i = 0; i < RM; i++) a[i] = As[kk][ty + 16 * i];
            for (int j = 0; j < RN; j++) b[j] = Bs[kk][tx + 16 * j];
            for (int i = 0; i < RM; i++)
                for (int j = 0; j < RN; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
    for (int i = 0; i < RM; i++) {
        int gm = m0 + ty + 16 * i;
        if (gm >= M) continue;
        for (int j = 0; j < RN; j++) {
            int gn = n0 + tx + 16 * j;
            if (gn >= N) continue;
            float* c = &C[(long long)gm * ldc + gn];
            float v = alpha * acc[i][j];
            if (bias) v += bias[gn];
            *c = beta == 0.0f ? v : v + beta * *c;
        }
    }
}

// The product kernels' parameters, the same for every tile size.
#define GEMM_PARAMS                                                                                              \
    int M, int N, int K, float alpha, const float *__restrict__ A, int lda, int transA,                         \
        const float *__restrict__ B, int ldb, int transB, float beta, float *__restrict__ C, int ldc,             \
        const float *__restrict__ bias
#define GEMM_ARGS M, N, K, alpha, A, lda, transA, B, ldb, transB, beta, C, ldc, bias

// sgemm uses 64×64 tiles, sgemm128 128×128, sgemm32 32×32.
KERNEL(sgemm, GEMM_PARAMS) { sgemm_tile<64, 64>(GEMM_ARGS); }
KERNEL(sgemm128, GEMM_PARAMS) { sgemm_tile<128, 128>(GEMM_ARGS); }
KERNEL(sgemm32, GEMM_PARAMS) { sgemm_tile<32, 32>(GEMM_ARGS); }

// sgemm_tf32 is sgemm on the tensor cores: the tiles are rounded to TF32
// (10-bit mantissa) and multiplied with FP32 accumulation. The block's 64×64
// tile is split among its 8 warps as 2×4 tiles of 32×16, each 2×2
// mma.sync products of 16×8 per 8 columns of K. Launch: grid (ceil(N/64),
// ceil(M/64)), block 256.
KERNEL(sgemm_tf32, GEMM_PARAMS) {
    // + 8: a fragment's 32 reads, As[k + t][r + g] for t < 4 and g < 8,
    // then fall in 32 different banks (8t + g); unpadded, in 8 (a 4-way
    // conflict on every read).
    __shared__ float As[TILE_K][64 + 8];
    __shared__ float Bs[TILE_K][64 + 8];
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int g = lane / 4, t = lane % 4;
    const int wm = (warp / 4) * 32, wn = (warp % 4) * 16;  // the warp's tile in the block's
    const int m0 = blockIdx.y * 64, n0 = blockIdx.x * 64;
    float acc[2][2][4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int r = 0; r < 4; r++) acc[i][j][r] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        for (int l = tid; l < 64 * TILE_K; l += 256) {
            int mm = transA ? l % 64 : l / TILE_K;
            int kk = transA ? l / 64 : l % TILE_K;
            int gm = m0 + mm, gk = k0 + kk;
            float v = 0.0f;
            if (gm < M && gk < K) v = transA ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk];
            As[kk][mm] = v;
        }
        for (int l = tid; l < TILE_K * 64; l += 256) {
            int nn = transB ? l / TILE_K : l % 64;
            int kk = transB ? l % TILE_K : l / 64;
            int gk = k0 + kk, gn = n0 + nn;
            float v = 0.0f;
            if (gk < K && gn < N) v = transB ? B[(long long)gn * ldb + gk] : B[(long long)gk * ldb + gn];
            Bs[kk][nn] = v;
        }
        __syncthreads();
        for (int kb = 0; kb < TILE_K; kb += 8) {
            unsigned a[2][4], b[2][2];
            for (int i = 0; i < 2; i++) {
                int r = wm + 16 * i + g;
                a[i][0] = to_tf32(As[kb + t][r]);
                a[i][1] = to_tf32(As[kb + t][r + 8]);
                a[i][2] = to_tf32(As[kb + t + 4][r]);
                a[i][3] = to_tf32(As[kb + t + 4][r + 8]);
            }
            for (int j = 0; j < 2; j++) {
                int c = wn + 8 * j + g;
                b[j][0] = to_tf32(Bs[kb + t][c]);
                b[j][1] = to_tf32(Bs[kb + t + 4][c]);
            }
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) mma_tf32(acc[i][j], a[i], b[j]);
        }
        __syncthreads();
    }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int r = 0; r < 4; r++) {
                int gm = m0 + wm + 16 * i + g + 8 * (r / 2);
                int gn = n0 + wn + 8 * j + 2 * t + r % 2;
                if (gm >= M || gn >= N) continue;
                float* c = &C[(long long)gm * ldc + gn];
                float v = alpha * acc[i][j][r];
                if (bias) v += bias[gn];
                *c = beta == 0.0f ? v : v + beta * *c;
            }
}
