// Element-wise and reduction kernels of the layers: embedding, biases,
// highway, dropout, LSTM cell, latent and KL, softmax cross-entropy. Each
// forward kernel sits beside its backward one; model/forward.go and
// model/graph.go hold the same maths on the CPU.
#include "rng.cuh"

// gather copies row ids[r] of table (rows of width E) to row r of out.
KERNEL(gather, int rows, int E, const int* __restrict__ ids, const float* __restrict__ table, float* __restrict__ out) {
    FOR_EACH(i, (long long)rows * E) {
        long long r = i / E, j = i % E;
        out[i] = table[(long long)ids[r] * E + j];
    }
}

// scatter_add adds row r of d to row ids[r] of dtable: the gradient of
// gather. Rows may repeat, hence the atomic add.
KERNEL(scatter_add, int rows, int E, const int* __restrict__ ids, const float* __restrict__ d, float* __restrict__ dtable) {
    FOR_EACH(i, (long long)rows * E) {
        long long r = i / E, j = i % E;
        atomicAdd(&dtable[(long long)ids[r] * E + j], d[i]);
    }
}

// add_bias adds the bias row to every row of x (rows × cols).
KERNEL(add_bias, int rows, int cols, float* __restrict__ x, const float* __restrict__ bias) {
    FOR_EACH(i, (long long)rows * cols) x[i] += bias[i % cols];
}

// Column sums (the gradient of a bias) of x, rows × cols, in two passes
// with enough threads to keep the memory busy: one thread a column walking
// down thousands of rows (the output layer's 21·B), with few loads in
// flight, leaves the memory mostly idle. col_sum_part gives a block 32 columns of a chunk of COL_CHUNK
// rows; its 8 warps each walk the chunk 8 rows apart (reads coalesced along
// the columns) and add their sums in a fixed order. With one chunk it adds
// the sums to out; with several it writes each chunk's to part (chunks ×
// cols), and col_sum_finish adds those, in order, to out. Deterministic.
#define COL_CHUNK 256
KERNEL(col_sum_part, int rows, int cols, const float* __restrict__ x, float* __restrict__ part, float* __restrict__ out) {
    __shared__ float sums[THREADS / 32][32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    int j = blockIdx.x * 32 + lane;
    int r0 = blockIdx.y * COL_CHUNK, r1 = r0 + COL_CHUNK < rows ? r0 + COL_CHUNK : rows;
    float s = 0.0f;
    if (j < cols)
        for (int r = r0 + warp; r < r1; r += THREADS / 32) s += x[(long long)r * cols + j];
    sums[warp][lane] = s;
    __syncthreads();
    if (warp != 0 || j >= cols) return;
    for (int w = 1; w < THREADS / 32; w++) s += sums[w][lane];
    if (gridDim.y == 1) out[j] += s;
    else part[(long long)blockIdx.y * cols + j] = s;
}

KERNEL(col_sum_finish, int chunks, int cols, const float* __restrict__ part, float* __restrict__ out) {
    FOR_EACH(j, (long long)cols) {
        float s = 0.0f;
        for (int c = 0; c < chunks; c++) s += part[(long long)c * cols + j];
        out[j] += s;
    }
}

// sum_blocks adds the n blocks of size len of x, element by element, to out:
// the gradient of a term added at every step (the decoder's z·Wz + b).
KERNEL(sum_blocks, int n, int len, const float* __restrict__ x, float* __restrict__ out) {
    FOR_EACH(i, (long long)len) {
        float s = 0.0f;
        for (int k = 0; k < n; k++) s += x[(long long)k * len + i];
        out[i] += s;
    }
}

// highway_fwd: t = σ(tpre), y = x + t·(relu(h) − x), with h = x·W + b and
// tpre = x·Wgate + bgate from sgemm. It overwrites tpre with t, which the
// backward pass needs.
KERNEL(highway_fwd, long long n, const float* __restrict__ x, const float* __restrict__ h, float* __restrict__ tgate, float* __restrict__ y) {
    FOR_EACH(i, n) {
        float t = sigmoidf(tgate[i]);
        tgate[i] = t;
        y[i] = x[i] + t * (fmaxf(h[i], 0.0f) - x[i]);
    }
}

// highway_bwd turns dy into dx's direct part (dy·(1−t)), dh (in place of
// h: dy·t·[h > 0]) and the gate's pre-activation gradient (in place of t:
// dy·(relu(h) − x)·t·(1−t)); sgemm then adds the products' parts to dx.
KERNEL(highway_bwd, long long n, const float* __restrict__ x, float* __restrict__ h, float* __restrict__ tgate,
       const float* __restrict__ dy, float* __restrict__ dx) {
    FOR_EACH(i, n) {
        float t = tgate[i], hv = h[i], g = dy[i];
        float relu = fmaxf(hv, 0.0f);
        dx[i] = g * (1.0f - t);
        h[i] = hv > 0.0f ? g * t : 0.0f;
        tgate[i] = g * (relu - x[i]) * t * (1.0f - t);
    }
}

// dropout_fwd draws an inverted-dropout mask (0, or scale = 1/(1−p)) from
// the counter-based generator, keeps it for the backward pass and applies
// it: y = x·mask. y may be x.
KERNEL(dropout_fwd, long long n, u64 key, int stream, unsigned threshold, float scale, const float* x,
       float* __restrict__ mask, float* y) {
    FOR_EACH(i, n) {
        float m = dropped(key, stream, i, threshold) ? 0.0f : scale;
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

// mul sets y = x·m element by element (the backward pass of dropout); y may be x.
KERNEL(mul, long long n, const float* x, const float* __restrict__ m, float* y) {
    FOR_EACH(i, n) y[i] = x[i] * m[i];
}

// word_dropout replaces decoder inputs after the first step (ids are
// time-major, B a step) by unk with the drawn probability.
KERNEL(word_dropout, int n, int B, u64 key, int stream, unsigned threshold, int unk, int* __restrict__ ids) {
    FOR_EACH(i, n) {
        if (i >= B && dropped(key, stream, i, threshold)) ids[i] = unk;
    }
}

// normal_fill writes standard normal draws (ε).
KERNEL(normal_fill, int n, u64 key, int stream, float* __restrict__ out) {
    FOR_EACH(i, n) out[i] = normal(key, stream, i);
}

// tanh_fwd sets y = tanh(x) (the decoder's initial state); y may be x.
KERNEL(tanh_fwd, int n, const float* x, float* y) {
    FOR_EACH(i, n) y[i] = tanhf(x[i]);
}

// tanh_bwd sets dx = dy·(1 − y²); dx may be dy.
KERNEL(tanh_bwd, int n, const float* __restrict__ y, const float* dy, float* dx) {
    FOR_EACH(i, n) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

// lstm_fwd is one LSTM step for B rows of H units, all four gates at once,
// its recurrent product included: pre (B × 4H, gates i f g o side by side)
// holds x·Wx + b, to which the kernel adds hprev·Wh (hprev B × H, Wh H × 4H;
// hprev null: a first step) and extra (B × 4H, or null: the decoder's
// z·Wz + b). pre is overwritten with the gates' activations, kept for the
// backward pass. cprev may be null: a zero cell.
//
// Each thread owns one (row, unit) and accumulates its four gates' products
// itself, so that the cell follows in the same launch: a block of 256
// threads covers LSTM_ROWS rows × LSTM_UNITS units, the product's operands
// staged in shared memory LSTM_K rows of Wh at a time. A step has few
// blocks (B·H/256), with few warps to hide a stage's loads behind, so the
// stages are long (a backward step's product, K = 4H, takes 16 at
// H = 256) and each stage's loads are issued during the previous one's
// products.
//
// Independent LSTMs of the same size (the encoder's two directions) step in
// one launch, one per blockIdx.z: the z-th finds each array z·offset
// elements from the first's (the o* arguments, in the order of the arrays).
// Launch: grid (ceil(H/LSTM_UNITS), ceil(B/LSTM_ROWS), LSTMs), block 256.
#define LSTM_ROWS 32
#define LSTM_UNITS 8
#define LSTM_K 64

// The LSTM kernels' products stage LSTM_K columns of the left operand (rows
// row0 … row0+LSTM_ROWS of x, B rows of K) and LSTM_K rows of Wh at a time
// in shared memory. Each thread fetches its share of the next stage into
// registers before the current stage's products (the loads' latency then
// passes during them: a step has few blocks, with few other warps to hide
// it) and stores it after. fetch_rows/store_rows move x's part, to
// s[k][row], zeros outside x.
#define ROWS_SHARE (LSTM_ROWS * LSTM_K / 256)
static_assert(LSTM_ROWS * LSTM_K % 256 == 0 && 256 % LSTM_K == 0, "a stage of rows splits evenly over 256 threads");
// Thread t moves column t % LSTM_K of rows t / LSTM_K + i·(256 / LSTM_K).
__device__ __forceinline__ void fetch_rows(const float* __restrict__ x, int B, int K, int row0, int k0,
                                           float (&r)[ROWS_SHARE]) {
    const int rr = threadIdx.x / LSTM_K, gk = k0 + threadIdx.x % LSTM_K;
    const float* p = x + (long long)(row0 + rr) * K + gk;
    for (int i = 0; i < ROWS_SHARE; i++) {
        int gb = row0 + rr + i * (256 / LSTM_K);
        r[i] = (gb < B && gk < K) ? p[(long long)i * (256 / LSTM_K) * K] : 0.0f;
    }
}
__device__ __forceinline__ void store_rows(float (*s)[LSTM_ROWS + 1], const float (&r)[ROWS_SHARE]) {
    const int rr = threadIdx.x / LSTM_K, kk = threadIdx.x % LSTM_K;
    for (int i = 0; i < ROWS_SHARE; i++) s[kk][rr + i * (256 / LSTM_K)] = r[i];
}

KERNEL(lstm_fwd, int B, int H, float* __restrict__ pre, const float* __restrict__ extra,
       const float* __restrict__ hprev, const float* __restrict__ Wh, const float* __restrict__ cprev,
       float* __restrict__ c, float* __restrict__ h, long long oPre, long long oExtra, long long oHprev,
       long long oWh, long long oCprev, long long oC, long long oH) {
    __shared__ float hs[LSTM_K][LSTM_ROWS + 1];  // + 1: the staging writes go down a column
    __shared__ float ws[LSTM_K][4][LSTM_UNITS];
    const long long z = blockIdx.z;
    pre += z * oPre;
    if (extra) extra += z * oExtra;
    if (hprev) {
        hprev += z * oHprev;
        Wh += z * oWh;
    }
    if (cprev) cprev += z * oCprev;
    c += z * oC;
    h += z * oH;
    const int tid = threadIdx.x, r = tid / LSTM_UNITS, u = tid % LSTM_UNITS;
    const int row0 = blockIdx.y * LSTM_ROWS, unit0 = blockIdx.x * LSTM_UNITS;
    const int b = row0 + r, j = unit0 + u;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (hprev) {
        // The stage of Wh: its rows k0 … k0+LSTM_K, the block's units of
        // each gate. Thread t moves unit t % LSTM_UNITS of gate
        // t / LSTM_UNITS % 4 in rows t / (4·LSTM_UNITS) + i·KSTEP.
        const int W_SHARE = LSTM_K * 4 * LSTM_UNITS / 256, KSTEP = 256 / (4 * LSTM_UNITS);
        static_assert(LSTM_K * 4 * LSTM_UNITS % 256 == 0 && 256 % (4 * LSTM_UNITS) == 0, "a stage of Wh splits evenly over 256 threads");
        const int wk = threadIdx.x / (4 * LSTM_UNITS), wg = threadIdx.x / LSTM_UNITS % 4, wu = threadIdx.x % LSTM_UNITS;
        const bool wIn = unit0 + wu < H;
        const float* wp = Wh + (long long)wk * 4 * H + wg * H + unit0 + wu;
        float rh[ROWS_SHARE], rw[W_SHARE];
        auto fetch_w = [&](int k0) {
            for (int i = 0; i < W_SHARE; i++)
                rw[i] = (wIn && k0 + wk + i * KSTEP < H) ? wp[(long long)(k0 + i * KSTEP) * 4 * H] : 0.0f;
        };
        fetch_rows(hprev, B, H, row0, 0, rh);
        fetch_w(0);
        for (int k0 = 0; k0 < H; k0 += LSTM_K) {
            store_rows(hs, rh);
            for (int i = 0; i < W_SHARE; i++) ws[wk + i * KSTEP][wg][wu] = rw[i];
            __syncthreads();
            if (k0 + LSTM_K < H) {
                fetch_rows(hprev, B, H, row0, k0 + LSTM_K, rh);
                fetch_w(k0 + LSTM_K);
            }
            for (int kk = 0; kk < LSTM_K; kk++) {
                float a = hs[kk][r];
                for (int g = 0; g < 4; g++) acc[g] += a * ws[kk][g][u];
            }
            __syncthreads();
        }
    }
    if (b >= B || j >= H) return;
    float* p = pre + (long long)b * 4 * H;
    float pi = p[j] + acc[0], pf = p[H + j] + acc[1], pg = p[2 * H + j] + acc[2], po = p[3 * H + j] + acc[3];
    if (extra) {
        const float* e = extra + (long long)b * 4 * H;
        pi += e[j];
        pf += e[H + j];
        pg += e[2 * H + j];
        po += e[3 * H + j];
    }
    float i = sigmoidf(pi), f = sigmoidf(pf), g = tanhf(pg), o = sigmoidf(po);
    const long long idx = (long long)b * H + j;
    float cc = i * g;
    if (cprev) cc += f * cprev[idx];
    p[j] = i;
    p[H + j] = f;
    p[2 * H + j] = g;
    p[3 * H + j] = o;
    c[idx] = cc;
    h[idx] = o * tanhf(cc);
}

// lstm_bwd is the backward pass of lstm_fwd, the recurrent product's
// included as there: the gradient of the step's h is dh (null: zero) plus,
// where dpreNext is given, dpreNext·Whᵀ, what the next step sent back
// through its recurrent product (dpreNext B × 4H, that step's dpre; Wh
// H × 4H). dc holds the gradient of the step's c from the next step and is
// replaced by that of cprev. dpre (B × 4H) gets the gradient of the
// pre-activations. Blocks, tiles and several LSTMs in one launch as in
// lstm_fwd. Launch: grid (ceil(H/LSTM_UNITS), ceil(B/LSTM_ROWS), LSTMs),
// block 256.
KERNEL(lstm_bwd, int B, int H, const float* __restrict__ gates, const float* __restrict__ c,
       const float* __restrict__ cprev, const float* __restrict__ dh, const float* __restrict__ dpreNext,
       const float* __restrict__ Wh, float* __restrict__ dc, float* __restrict__ dpre, long long oGates, long long oC,
       long long oCprev, long long oDh, long long oDpreNext, long long oWh, long long oDc, long long oDpre) {
    __shared__ float ds[LSTM_K][LSTM_ROWS + 1];  // + 1: the staging writes go down a column
    __shared__ float ws[LSTM_K][LSTM_UNITS + 1];
    const long long z = blockIdx.z;
    gates += z * oGates;
    c += z * oC;
    if (cprev) cprev += z * oCprev;
    if (dh) dh += z * oDh;
    if (dpreNext) {
        dpreNext += z * oDpreNext;
        Wh += z * oWh;
    }
    dc += z * oDc;
    dpre += z * oDpre;
    const int tid = threadIdx.x, r = tid / LSTM_UNITS, u = tid % LSTM_UNITS;
    const int row0 = blockIdx.y * LSTM_ROWS, unit0 = blockIdx.x * LSTM_UNITS;
    const int b = row0 + r, j = unit0 + u;
    float back = 0.0f;  // (dpreNext·Whᵀ)[b][j]
    if (dpreNext) {
        const int K = 4 * H;
        // The stage of Whᵀ: columns k0 … k0+LSTM_K of the block's units'
        // rows of Wh. Thread t moves column t % LSTM_K of unit
        // t / LSTM_K + i·USTEP.
        const int W_SHARE = LSTM_UNITS * LSTM_K / 256, USTEP = 256 / LSTM_K;
        static_assert(LSTM_UNITS * LSTM_K % 256 == 0, "a stage of Wh splits evenly over 256 threads");
        const int wu = threadIdx.x / LSTM_K, wk = threadIdx.x % LSTM_K;
        const float* wp = Wh + (long long)(unit0 + wu) * K + wk;
        float rd[ROWS_SHARE], rw[W_SHARE];
        auto fetch_w = [&](int k0) {
            for (int i = 0; i < W_SHARE; i++)
                rw[i] = (unit0 + wu + i * USTEP < H && k0 + wk < K) ? wp[(long long)i * USTEP * K + k0] : 0.0f;
        };
        fetch_rows(dpreNext, B, K, row0, 0, rd);
        fetch_w(0);
        for (int k0 = 0; k0 < K; k0 += LSTM_K) {
            store_rows(ds, rd);
            for (int i = 0; i < W_SHARE; i++) ws[wk][wu + i * USTEP] = rw[i];
            __syncthreads();
            if (k0 + LSTM_K < K) {
                fetch_rows(dpreNext, B, K, row0, k0 + LSTM_K, rd);
                fetch_w(k0 + LSTM_K);
            }
            for (int kk = 0; kk < LSTM_K; kk++) back += ds[kk][r] * ws[kk][u];
            __syncthreads();
        }
    }
    if (b >= B || j >= H) return;
    const long long idx = (long long)b * H + j;
    const float dhj = (dh ? dh[idx] : 0.0f) + back;
    const float* a = gates + (long long)b * 4 * H;
    float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
    float tc = tanhf(c[idx]);
    float dcell = dc[idx] + dhj * o * (1.0f - tc * tc);
    float cp = cprev ? cprev[idx] : 0.0f;
    float* d = dpre + (long long)b * 4 * H;
    d[j] = dcell * g * i * (1.0f - i);
    d[H + j] = dcell * cp * f * (1.0f - f);
    d[2 * H + j] = dcell * i * (1.0f - g * g);
    d[3 * H + j] = dhj * tc * o * (1.0f - o);
    dc[idx] = dcell * f;
}

// latent_fwd is the reparameterisation z = mu + exp(½·logvar)·ε and each
// element's KL, ½(mu² + σ² − 1 − log σ²).
KERNEL(latent_fwd, int n, const float* __restrict__ mu, const float* __restrict__ logvar,
       const float* __restrict__ eps, float* __restrict__ z, float* __restrict__ kl) {
    FOR_EACH(i, n) {
        float m = mu[i], lv = logvar[i];
        z[i] = m + expf(0.5f * lv) * eps[i];
        kl[i] = 0.5f * (m * m + expf(lv) - 1.0f - lv);
    }
}

// kl_dims sets klDim[d], the batch mean KL of dimension d over the first
// rows poems of the batch (the others are padding).
KERNEL(kl_dims, int B, int Z, int rows, const float* __restrict__ kl, float* __restrict__ klDim) {
    int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= Z) return;
    float s = 0.0f;
    for (int b = 0; b < rows; b++) s += kl[(long long)b * Z + d];
    klDim[d] = s / (float)rows;
}

// latent_bwd turns dz (the decoder's gradient of z) into the gradients of
// mu and logvar, adding the KL term's: β·[klDim > free bits]·(1/rows) for
// the poems that count.
KERNEL(latent_bwd, int B, int Z, int rows, float beta, float freeBits, const float* __restrict__ mu,
       const float* __restrict__ logvar, const float* __restrict__ eps, const float* __restrict__ klDim,
       const float* __restrict__ dz, float* __restrict__ dmu, float* __restrict__ dlogvar) {
    FOR_EACH(i, (long long)B * Z) {
        int b = i / Z, d = i % Z;
        float w = (b < rows && klDim[d] > freeBits) ? beta / (float)rows : 0.0f;
        float lv = logvar[i], sigma = expf(0.5f * lv);
        dmu[i] = w * mu[i] + dz[i];
        dlogvar[i] = w * 0.5f * (expf(lv) - 1.0f) + dz[i] * eps[i] * 0.5f * sigma;
    }
}

// xent is the fused softmax and cross-entropy of each row of logits
// (rows × V; row r is poem r % B of its step). It writes the row's loss,
// weighted by 1/count for the first count poems of each step and 0 for
// padding, and replaces the logits by the loss's gradient,
// weight·(softmax − onehot(target)). Max-subtracted: no overflow.
// Launch: one block of THREADS per row.
KERNEL(xent, int rows, int V, int B, int count, const int* __restrict__ targets, float* __restrict__ logits,
       float* __restrict__ loss) {
    __shared__ float red[THREADS];
    long long r = blockIdx.x;
    if (r >= rows) return;
    float* x = logits + r * V;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < V; j += THREADS) m = fmaxf(m, x[j]);
    m = block_max(m, red);
    float s = 0.0f;
    for (int j = threadIdx.x; j < V; j += THREADS) s += expf(x[j] - m);
    s = block_sum(s, red);
    float lse = m + logf(s);
    int target = targets[r];
    float w = (r % B) < count ? 1.0f / (float)count : 0.0f;
    float xt = x[target];  // read by every thread before any writes it
    __syncthreads();
    if (threadIdx.x == 0) loss[r] = w * (lse - xt);
    for (int j = threadIdx.x; j < V; j += THREADS) {
        float p = expf(x[j] - lse);
        x[j] = w * (p - (j == target ? 1.0f : 0.0f));
    }
}

// finish_loss sums the row losses and the KL terms into the step's
// scalars: [0] loss, [1] NLL, [2] KL, [3] KL with the free-bits floor, [6]
// the bag-of-characters loss (bagRows rows of bagLoss; none when 0), which
// joins the loss but not the NLL.
// Launch: one block of THREADS.
KERNEL(finish_loss, int rows, const float* __restrict__ rowLoss, int bagRows, const float* __restrict__ bagLoss, int Z,
       const float* __restrict__ klDim, float beta, float freeBits, float* __restrict__ scalars) {
    __shared__ float red[THREADS];
    float s = 0.0f;
    for (int i = threadIdx.x; i < rows; i += THREADS) s += rowLoss[i];
    float nll = block_sum(s, red);
    float b = 0.0f;
    for (int i = threadIdx.x; i < bagRows; i += THREADS) b += bagLoss[i];
    float bag = block_sum(b, red);
    float kl = 0.0f, klFloor = 0.0f;
    for (int d = threadIdx.x; d < Z; d += THREADS) {
        kl += klDim[d];
        klFloor += fmaxf(klDim[d], freeBits);
    }
    kl = block_sum(kl, red);
    klFloor = block_sum(klFloor, red);
    if (threadIdx.x == 0) {
        scalars[0] = nll + bag + beta * klFloor;
        scalars[1] = nll;
        scalars[2] = kl;
        scalars[3] = klFloor;
        scalars[6] = bag;
    }
}
