// Matrix products for every layer, forward and backward.
#include "common.cuh"

// Tile sizes: a block of 16×16 threads computes a 64×64 tile of C, each
// thread a 4×4 grid of it with stride 16 (so neighbouring threads touch
// neighbouring columns), stepping through K 16 at a time in shared memory.
#define TILE_M 64
#define TILE_N 64
#define TILE_K 16

// sgemm sets C (M×N, row stride ldc) to alpha·op(A)·op(B) + beta·C in FP32,
// where op(A) is M×K and op(B) is K×N. A is stored M×K (row stride lda), or
// K×M when transA; B is stored K×N (ldb), or N×K when transB. With beta = 0
// C is only written, never read, so it may hold anything (even NaN).
// Launch: grid (ceil(N/64), ceil(M/64)), block 256.
KERNEL(sgemm, int M, int N, int K, float alpha, const float* __restrict__ A, int lda, int transA,
       const float* __restrict__ B, int ldb, int transB, float beta, float* __restrict__ C, int ldc) {
    __shared__ float As[TILE_K][TILE_M];
    __shared__ float Bs[TILE_K][TILE_N];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int m0 = blockIdx.y * TILE_M, n0 = blockIdx.x * TILE_N;
    float acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        // Load the tiles, reading along each matrix's contiguous dimension.
        for (int l = tid; l < TILE_M * TILE_K; l += 256) {
            int mm, kk;
            if (transA) {
                mm = l % TILE_M;
                kk = l / TILE_M;
            } else {
                kk = l % TILE_K;
                mm = l / TILE_K;
            }
            int gm = m0 + mm, gk = k0 + kk;
            float v = 0.0f;
            if (gm < M && gk < K) v = transA ? A[(long long)gk * lda + gm] : A[(long long)gm * lda + gk];
            As[kk][mm] = v;
        }
        for (int l = tid; l < TILE_K * TILE_N; l += 256) {
            int kk, nn;
            if (transB) {
                kk = l % TILE_K;
                nn = l / TILE_K;
            } else {
                nn = l % TILE_N;
                kk = l / TILE_N;
            }
            int gk = k0 + kk, gn = n0 + nn;
            float v = 0.0f;
            if (gk < K && gn < N) v = transB ? B[(long long)gn * ldb + gk] : B[(long long)gk * ldb + gn];
            Bs[kk][nn] = v;
        }
        __syncthreads();
        for (int kk = 0; kk < TILE_K; kk++) {
            float a[4], b[4];
            for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
            for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
    for (int i = 0; i < 4; i++) {
        int gm = m0 + ty + 16 * i;
        if (gm >= M) continue;
        for (int j = 0; j < 4; j++) {
            int gn = n0 + tx + 16 * j;
            if (gn >= N) continue;
            float* c = &C[(long long)gm * ldc + gn];
            float v = alpha * acc[i][j];
            *c = beta == 0.0f ? v : v + beta * *c;
        }
    }
}
