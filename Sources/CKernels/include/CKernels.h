// CKernels: AVX2/FMA versions of moe's hottest element-wise and attention kernels, for
// MoETensor. The package builds without -march flags, so these functions carry
// __attribute__((target("avx2,fma"))) and the caller picks them at run time when
// moe_cpu_has_avx2_fma() says the CPU has both; otherwise MoETensor runs its portable Swift
// and OpenBLAS code (which is also the tests' reference). On other architectures the
// kernels are absent in effect: moe_cpu_has_avx2_fma() returns 0 and they do nothing.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the CPU (and OS) support AVX2 and FMA, else 0.
int moe_cpu_has_avx2_fma(void);

// Exact (erf) GELU with MoETensor's erf approximation (GELU.swift, VectorMath.swift).
// count is any length; tails use masked loads and stores.

/// out[i] = gelu(inp[i]).
void moe_gelu_forward_avx2(float *out, const float *inp, ptrdiff_t count);
/// out[i] = gelu(inp[i]), derivative[i] = gelu'(inp[i]).
void moe_gelu_forward_derivative_avx2(
    float *out, float *derivative, const float *inp, ptrdiff_t count);
/// dinp[i] += dout[i] * gelu'(inp[i]).
void moe_gelu_backward_avx2(float *dinp, const float *inp, const float *dout, ptrdiff_t count);
/// The two forwards above in AVX-512F (gelu_avx512.c), bit for bit the same results.
void moe_gelu_forward_avx512(float *out, const float *inp, ptrdiff_t count);
void moe_gelu_forward_derivative_avx512(
    float *out, float *derivative, const float *inp, ptrdiff_t count);

/// dbias[c] += Σ_r dout[r·ld + c] for c < cols, in AVX-512F (bias_avx512.c): per block of
/// `block` rows a sum from 0 in row order, then added to dbias, as `biasBackward` orders it.
void moe_bias_backward_avx512(
    float *dbias, const float *dout, ptrdiff_t ld, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t block);

/// AdamW.kernel's update of `count` values in AVX-512F (adamw_avx512.c), bit for bit:
/// m ← β₁·m + (1−β₁)·g, v ← β₂·v + (1−β₂)·g², θ ← θ·decay − step_size·m / (√v / bc2_sqrt + eps).
void moe_adamw_avx512(
    float *theta, const float *grad, float *m, float *v, ptrdiff_t count, float decay, float beta1,
    float beta2, float step_size, float bc2_sqrt, float eps);

// LayerNorm rows in AVX2 (layernorm_avx2.c), bit for bit LayerNorm.swift's portable kernel:
// its SIMD8 operations in one register each, lane sums from lane 0 up, no contraction.

/// Each of `rows` rows of inp[rows, dim] normalised: out, and the row's mean and 1/σ.
void moe_layernorm_forward_avx2(
    float *out, float *mean, float *rstd, const float *inp, const float *weight, const float *bias,
    ptrdiff_t rows, ptrdiff_t dim, float eps);
/// dinp += the rows' input gradients; dweight += Σ dy ⊙ x̂ and dbias += Σ dy row by row in
/// order (either may be NULL).
void moe_layernorm_backward_avx2(
    float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
    const float *mean, const float *rstd, ptrdiff_t rows, ptrdiff_t dim);

// Row softmax (softmax_avx2.c), bit for bit Softmax.swift's softmaxRow.

/// out[r, :] = softmax(in[r, :]) for rows × cols floats (out may equal in); a row whose
/// maximum is not finite becomes NaN.
void moe_softmax_rows_avx2(float *out, const float *in, ptrdiff_t rows, ptrdiff_t cols);

// Token dispatch rows (dispatch_avx.c), bit for bit Dispatch.swift's portable kernels.

/// dst[j] = (accumulate ? dst[j] : 0) + scale·src[j] for j < dim, in AVX-512F.
void moe_row_add_scaled_avx512(float *dst, const float *src, float scale, ptrdiff_t dim, int accumulate);
/// out[i] = src[row_indices[i]] (rows of dim floats) for i < count, each source row asked
/// for a few rows ahead, in AVX-512F.
void moe_gather_rows_avx512(float *out, const float *src, const int32_t *row_indices, ptrdiff_t count, ptrdiff_t dim);
/// Σ a[j]·b[j] in eight-lane partial sums, their lanes then added from lane 0 up, in AVX2.
float moe_row_dot_avx2(const float *a, const float *b, ptrdiff_t dim);

// One attention head, fused (Attention.swift has the formulas). q, k, v point at the head's
// first column in the packed qkv activations, rows `ld_qkv` floats apart; out/dout rows are
// `ld_out` apart; att and scores are the head's N×N block. head_dim must be a multiple of 8.
// Each call copies its head's operands into a workspace owned by the calling thread.

/// Memory a kernel asks the caches for while it computes, a share per step of its work: the
/// operands of the call after it, which otherwise come back from memory when that call
/// starts. A hint only: it changes no result, and any span (NULL start, 0 bytes) is valid.
typedef struct {
    const void *start;
    ptrdiff_t bytes;
} moe_prefetch_span;

/// S = scale·Q·Kᵀ, att = softmax_rows(S), out = att·V (overwritten); att may be NULL when the
/// probabilities are not needed (inference). `wide` (only on CPUs with AVX-512F) runs the
/// products in AVX-512, with the same bits. The `ahead_count` spans of `ahead` are fetched
/// into L2 over the call; att is written at the end with non-temporal stores. Returns 0, or -1
/// when the per-thread workspace (≈ 3·N·hd + N² floats) cannot be allocated: nothing is
/// written then.
int moe_attention_head_forward_avx2(
    float *out, ptrdiff_t ld_out, float *att, const float *q, const float *k, const float *v,
    ptrdiff_t ld_qkv, ptrdiff_t tokens, ptrdiff_t head_dim, float scale, int wide,
    const moe_prefetch_span *ahead, int ahead_count);
/// dq (+)= scale·dS·K, dk (+)= scale·dSᵀ·Q, dv (+)= attᵀ·dout, with dS = att ⊙ (dA −
/// rowsum(dA ⊙ att)) and dA = dout·Vᵀ (both in the workspace): added to what dq, dk, dv
/// hold when `accumulate`, else stored as their sum with zeros would be (what they held is
/// never read). `wide` and `ahead` as for the forward. Returns 0, or -1 when the per-thread
/// workspace (≈ 4·N·hd + 3·N² floats) cannot be allocated: nothing is written then.
int moe_attention_head_backward_avx2(
    float *dq, float *dk, float *dv, const float *dout, ptrdiff_t ld_out,
    const float *q, const float *k, const float *v, ptrdiff_t ld_qkv, const float *att,
    ptrdiff_t tokens, ptrdiff_t head_dim, float scale, int wide, int accumulate,
    const moe_prefetch_span *ahead, int ahead_count);

// Single-precision GEMM in AVX-512F, for the CPUs that have it (gemm_avx512.c). Row-major,
// as cblas_sgemm: C = alpha·op(A)·op(B) + beta·C with op(A) m×k, op(B) k×n, or with `bias`
// (n floats, else NULL) C = alpha·op(A)·op(B) + bias on every row, beta ignored. The inner
// dimension is summed in blocks (moe_sgemm_avx512_block_length); each element of C is
//   C ← beta·C (0 when beta is 0; untouched when 1) or bias_j, then for each block in order:
//   acc ← 0; acc ← fma(a_ip, b_pj, acc) for p ascending; C ← fma(acc, alpha, C),
// whatever the shape, the tile or the thread, so any cut of C's rows or columns into
// separate calls gives the same bits. With a `factor` (m×n, rows ldc apart, else NULL), the
// last block's C is then multiplied element-wise: C ← C·factor_ij + 0 (the + 0 stores a −0
// product as +0, as adding it to zeros would), so a gradient through an element-wise
// derivative needs no second pass.

/// Inner rows per block, and the unroll that rounds a remainder between Q and 2Q.
#define MOE_SGEMM_AVX512_Q 256
#define MOE_SGEMM_AVX512_UNROLL 8

/// 1 when the CPU (and OS) support AVX-512F, else 0.
int moe_cpu_has_avx512f(void);
/// Length of the first block of `rest` inner rows: Q when rest ≥ 2Q, a near-half rounded up
/// to the unroll when Q < rest < 2Q, else all of rest.
ptrdiff_t moe_sgemm_avx512_block_length(ptrdiff_t rest);
/// Returns 0, or -1 (nothing written) when the per-thread workspace (a block of B packed, at
/// most 512 columns by 2Q rows: 1 MB) cannot be allocated or the CPU is not x86-64.
int moe_sgemm_avx512(
    int trans_a, int trans_b, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
    const float *a, ptrdiff_t lda, const float *b, ptrdiff_t ldb, float beta, const float *bias,
    const float *factor, float *c, ptrdiff_t ldc);

#ifdef __cplusplus
}
#endif
