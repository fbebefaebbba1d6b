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

// A stage of a product is the W × TILE_K block of an operand, op(X), that
// the block multiplies next (W = the tile's rows of A or columns of B). Its
// element (w, k) lies at X[k·ld + w] when kMajor, else at X[w·ld + k]; each
// of the 256 threads moves W·TILE_K/256 of them, consecutive threads along
// X's contiguous dimension so that reads coalesce: thread t starts at
// stage_start and steps stage_step rows of X (k when kMajor, else w) from
// one element to the next, so that each element costs one offset.
template <int W>
__device__ __forceinline__ void stage_start(int kMajor, int& w, int& k) {
    static_assert(256 % W == 0 && 256 % TILE_K == 0, "a stage splits evenly over 256 threads");
    w = kMajor ? threadIdx.x % W : threadIdx.x / TILE_K;
    k = kMajor ? threadIdx.x / W : threadIdx.x % TILE_K;
}
template <int W>
__device__ __forceinline__ int stage_step(int kMajor) { return kMajor ? 256 / W : 256 / TILE_K; }

// fetch_stage reads this thread's elements of the stage at (w0, k0) of X
// (Wn × K in op form) into registers, zero outside it.
template <int W>
__device__ __forceinline__ void fetch_stage(const float* __restrict__ X, int ld, int kMajor, int Wn, int K, int w0,
                                            int k0, float (&r)[W * TILE_K / 256]) {
    int w, k;
    stage_start<W>(kMajor, w, k);
    const int step = stage_step<W>(kMajor);
    const int gw = w0 + w, gk = k0 + k;
    const float* p = X + (kMajor ? (long long)gk * ld + gw : (long long)gw * ld + gk);
    for (int i = 0; i < W * TILE_K / 256; i++) {
        bool in = kMajor ? gw < Wn && gk + i * step < K : gw + i * step < Wn && gk < K;
        r[i] = in ? p[(long long)i * step * ld] : 0.0f;
    }
}

// store_stage writes them to the shared tile S[k][w] (row pitch P ≥ W).
template <int W, int P>
__device__ __forceinline__ void store_stage(float (*S)[P], int kMajor, const float (&r)[W * TILE_K / 256]) {
    int w, k;
    stage_start<W>(kMajor, w, k);
    const int step = stage_step<W>(kMajor);
    for (int i = 0; i < W * TILE_K / 256; i++) {
        if (kMajor) S[k + i * step][w] = r[i];
        else S[k][w + i * step] = r[i];
    }
}

// sgemm_tile sets C (M×N, row stride ldc) to alpha·op(A)·op(B) + bias + beta·C
// in FP32, where op(A) is M×K and op(B) is K×N, and bias (N, or null) is
// added to every row (a layer's bias, at no extra pass over C). A is stored M×K (row stride
// lda), or K×M when transA; B is stored K×N (ldb), or N×K when transB. With
// beta = 0 C is only written, never read, so it may hold anything (even NaN).
// With PREFETCH the next stage's loads are issued before the current stage
// is multiplied, so that their latency passes while the block computes
// (a multiprocessor holds at most two 128×128 blocks, 16 warps, too few to
// hide them by switching), for a few more registers a thread.
// Launch: grid (ceil(N/TN), ceil(M/TM)), block 256.
template <int TM, int TN, bool PREFETCH = true>
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

    float ra[TM * TILE_K / 256], rb[TN * TILE_K / 256];
    if (PREFETCH) {
        fetch_stage<TM>(A, lda, transA, M, K, m0, 0, ra);
        fetch_stage<TN>(B, ldb, !transB, N, K, n0, 0, rb);
    }
    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        if (!PREFETCH) {
            fetch_stage<TM>(A, lda, transA, M, K, m0, k0, ra);
            fetch_stage<TN>(B, ldb, !transB, N, K, n0, k0, rb);
        }
        store_stage<TM>(As, transA, ra);
        store_stage<TN>(Bs, !transB, rb);
        __syncthreads();
        if (PREFETCH && k0 + TILE_K < K) {
            fetch_stage<TM>(A, lda, transA, M, K, m0, k0 + TILE_K, ra);
            fetch_stage<TN>(B, ldb, !transB, N, K, n0, k0 + TILE_K, rb);
        }
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
// sgemm_plain is sgemm without the prefetch, kept so that BenchmarkGemm
// measures what the prefetch gains.
KERNEL(sgemm_plain, GEMM_PARAMS) { sgemm_tile<64, 64, false>(GEMM_ARGS); }

// sgemm_split is sgemm for products of few output tiles over a long K,
// such as the gradient of the output layer's input at a small batch
// (1,344 × 256 outputs over K = 5,984 at batch 64: 84 tiles of 64×64 for
// an H100's 132 multiprocessors, each tile walking all of K). It cuts K
// into slices of kSlice (a multiple of TILE_K), one per blockIdx.z, and
// writes each slice's product, alpha = 1, to its own M × N block of work;
// split_sum then adds the slices into C. Launch: grid (ceil(N/64),
// ceil(M/64), ceil(K/kSlice)), block 256.
KERNEL(sgemm_split, int M, int N, int K, int kSlice, const float* __restrict__ A, int lda, int transA,
       const float* __restrict__ B, int ldb, int transB, float* __restrict__ work) {
    const long long k0 = (long long)blockIdx.z * kSlice;
    const int k = K - k0 < kSlice ? (int)(K - k0) : kSlice;
    sgemm_tile<64, 64>(M, N, k, 1.0f, A + (transA ? k0 * lda : k0), lda, transA, B + (transB ? k0 : k0 * ldb), ldb,
                       transB, 0.0f, work + blockIdx.z * (long long)M * N, N, nullptr);
}

// split_sum sets C (M × N, row stride ldc) to the sum of sgemm_split's
// slices of work, plus bias (N, or null) and beta·C, as sgemm would.
KERNEL(split_sum, int slices, int M, int N, const float* __restrict__ work, const float* __restrict__ bias, float beta,
       float* __restrict__ C, int ldc) {
    const long long MN = (long long)M * N;
    FOR_EACH(i, MN) {
        float s = 0.0f;
        for (int z = 0; z < slices; z++) s += work[z * MN + i];
        const long long r = i / N, c = i % N;
        if (bias) s += bias[c];
        float* p = C + r * ldc + c;
        *p = beta == 0.0f ? s : s + beta * *p;
    }
}

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

    float ra[64 * TILE_K / 256], rb[64 * TILE_K / 256];
    fetch_stage<64>(A, lda, transA, M, K, m0, 0, ra);
    fetch_stage<64>(B, ldb, !transB, N, K, n0, 0, rb);
    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        store_stage<64>(As, transA, ra);
        store_stage<64>(Bs, !transB, rb);
        __syncthreads();
        if (k0 + TILE_K < K) {  // the next stage's loads fly during this one's products
            fetch_stage<64>(A, lda, transA, M, K, m0, k0 + TILE_K, ra);
            fetch_stage<64>(B, ldb, !transB, N, K, n0, k0 + TILE_K, rb);
        }
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
