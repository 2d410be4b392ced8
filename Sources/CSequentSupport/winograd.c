/* Winograd convolution for 3×3, stride-1 windows (NHWC input, HWIO kernel), F(m×m, 3×3) with m = 2 or 4.
 *
 * Why: a 3×3 convolution over C ≥ 16 channels is a GEMM with K = 9C; Winograd's minimal filtering turns each
 * m×m block of outputs into α² = (m + 2)² independent [tiles × C] · [C × F] products instead of 9m² — 2.25× fewer
 * multiplies for m = 2, 4× for m = 4 — at the cost of transforming input tiles (V = Bᵀ d B), the kernel
 * (U = G g Gᵀ) and the products (Y = Aᵀ M A). Tiles are processed in blocks of BLOCK, so a block's transformed
 * inputs and products (α² · BLOCK · C floats each) stay in L2 between the three steps. The kernel is transformed
 * on every call: with 16-float vectors it costs a few microseconds, less than a cache it would have to keep
 * consistent with the weights, which change every training step.
 *
 * The products use the register blocking of conv_kernels.c's direct kernels (PX tiles × NV vectors of 16
 * filters). Edge tiles whose input window leaves the image read zeros, and their outputs outside the result are
 * dropped, so any output size works. With `pool`, each m×m output tile is max-pooled 2×2 on the spot (m is even,
 * so every pool window lies in one tile) and only the pooled values and their positions are written, as
 * `sequent_conv2d_forward_maxpool2` does.
 *
 * Each public entry returns 0 when it cannot handle the shape or CPU (the caller then uses another kernel).
 */
#include "sequent_support.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)

#define AI static inline __attribute__((always_inline))

typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
typedef unsigned char v16b __attribute__((vector_size(16)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
typedef unsigned char v16bu __attribute__((vector_size(16), aligned(1)));
#define load16(p) (*(const v16u *)(p))
#define store16(p, v) (*(v16u *)(p) = (v))
#define zero16() ((v16){0})

/* Tiles per block: a multiple of every PX below. (Arrays of transform values are declared at the largest size,
 * 6 × 6: sized by the inlined constant M they would be variable-length arrays, kept on the stack.) */
#define BLOCK 24
#define MAX_PX 12
#define MAX_NV 2

/* ---- the 1-D transforms, on α (= m + 2) vectors with a stride ------------------------------------------------ */

/* Bᵀ d: the input transform. */
AI void bt(const int M, const v16 *d, long ds, v16 *o, long os) {
    if (M == 2) {
        v16 d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds];
        o[0] = d0 - d2; o[os] = d1 + d2; o[2 * os] = d2 - d1; o[3 * os] = d1 - d3;
    } else {
        v16 d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
        v16 a = d4 - 4 * d2, b = d3 - 4 * d1, p = d4 - d2, q = 2 * (d3 - d1);
        o[0] = 4 * d0 - 5 * d2 + d4;
        o[os] = a + b; o[2 * os] = a - b;
        o[3 * os] = p + q; o[4 * os] = p - q;
        o[5 * os] = 4 * d1 - 5 * d3 + d5;
    }
}

/* Aᵀ m: the output transform, α values to M. */
AI void at(const int M, const v16 *m, long ms, v16 *o, long os) {
    if (M == 2) {
        v16 m1 = m[ms], m2 = m[2 * ms];
        o[0] = m[0] + m1 + m2; o[os] = m1 - m2 - m[3 * ms];
    } else {
        v16 m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms];
        v16 s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        o[0] = m[0] + s12 + s34;
        o[os] = d12 + 2 * d34;
        o[2 * os] = s12 + 4 * s34;
        o[3 * os] = d12 + 8 * d34 + m[5 * ms];
    }
}

/* G g: the kernel transform, 3 values to α. */
AI void gt(const int M, const v16 *g, long gs, v16 *o, long os) {
    v16 g0 = g[0], g1 = g[gs], g2 = g[2 * gs];
    if (M == 2) {
        o[0] = g0; o[os] = 0.5f * (g0 + g1 + g2); o[2 * os] = 0.5f * (g0 - g1 + g2); o[3 * os] = g2;
    } else {
        v16 e = g0 + g2, t = g0 * (1.0f / 24) + g2 * (1.0f / 6);
        o[0] = g0 * 0.25f;
        o[os] = (e + g1) * (-1.0f / 6); o[2 * os] = (e - g1) * (-1.0f / 6);
        o[3 * os] = t + g1 * (1.0f / 12); o[4 * os] = t - g1 * (1.0f / 12);
        o[5 * os] = g2;
    }
}

/* ---- kernel transform ------------------------------------------------------------------------------------------ */

/* u[t][i][o] = (G g Gᵀ)[t] for every input channel i and output channel o (16 at a time). With `flip`, the kernel
 * is that of the input gradient: g(ky, kx) = w[2 − ky][2 − kx] with inputs and outputs swapped (u is [t][F][C]). */
AI void kernel_transform(const int M, const float *w, float *u, long c, long f, int flip) {
    const int A = M + 2;
    long ni = flip ? f : c, no = flip ? c : f;
    for (long i = 0; i < ni; i++)
        for (long o0 = 0; o0 < no; o0 += 16) {
            v16 g[9], tmp[6 * 3], r[6 * 6];
            for (int k = 0; k < 9; k++) {
                if (!flip) g[k] = load16(w + (k * c + i) * f + o0);
                else {
                    /* Gather 16 input channels of one filter: strided in HWIO, so one by one. */
                    const float *src = w + ((8 - k) * c + o0) * f + i;
                    v16 v;
                    for (int l = 0; l < 16; l++) v[l] = src[l * f];
                    g[k] = v;
                }
            }
            for (int kx = 0; kx < 3; kx++) gt(M, g + kx, 3, tmp + kx, 3);      /* tmp[α][3] = G g */
            for (int a = 0; a < A; a++) gt(M, tmp + 3 * a, 1, r + A * a, 1);   /* r[α][α] = tmp Gᵀ */
            for (int t = 0; t < A * A; t++) store16(u + (t * ni + i) * no + o0, r[t]);
        }
}

/* ---- one block of tiles ------------------------------------------------------------------------------------------- */

typedef struct {
    const float *x, *u, *bias;
    float *y, *v, *m;
    unsigned char *arg;
    long n, h, w, c, f, pad;
    long oh, ow;   /* the convolution's output size */
    long th, tw;   /* tiles per sample: covering oh × ow, or with `pool` the 2·(oh/2) × 2·(ow/2) the pool reads */
    int relu, pool;
} wino_args;

/* v[t][p][c] for tiles g0 … g0+count of the batch (p = tile − g0); the rest of the block is zeroed. */
AI void input_block(const int M, const wino_args *a, long g0, long count) {
    const int A = M + 2;
    long per = a->th * a->tw, c = a->c;
    for (long p = 0; p < count; p++) {
        long gi = g0 + p, s = gi / per, r = gi % per;
        long iy0 = (r / a->tw) * M - a->pad, ix0 = (r % a->tw) * M - a->pad;
        int inside = iy0 >= 0 && ix0 >= 0 && iy0 + A <= a->h && ix0 + A <= a->w;
        const float *xs = a->x + s * a->h * a->w * c;
        for (long c0 = 0; c0 < c; c0 += 16) {
            v16 d[6 * 6], tmp[6 * 6], o[6 * 6];
            for (int i = 0; i < A; i++)
                for (int j = 0; j < A; j++) {
                    long iy = iy0 + i, ix = ix0 + j;
                    d[i * A + j] = inside || (iy >= 0 && ix >= 0 && iy < a->h && ix < a->w)
                        ? load16(xs + (iy * a->w + ix) * c + c0) : zero16();
                }
            for (int j = 0; j < A; j++) bt(M, d + j, A, tmp + j, A);
            for (int i = 0; i < A; i++) bt(M, tmp + i * A, 1, o + i * A, 1);
            for (int t = 0; t < A * A; t++) store16(a->v + (t * BLOCK + p) * c + c0, o[t]);
        }
    }
    if (count < BLOCK)
        for (int t = 0; t < A * A; t++)
            memset(a->v + (t * BLOCK + count) * c, 0, sizeof(float) * (size_t)((BLOCK - count) * c));
}

/* m[p][f0 …] = Σ_j v[p][j] · u[j][f0 …] for PX tiles and NV vectors of filters. */
AI void gemm_block(const int PX, const int NV, const float *v, long c, const float *u, long f, float *m) {
    v16 acc[MAX_PX][MAX_NV];
    for (int p = 0; p < PX; p++)
        for (int q = 0; q < NV; q++) acc[p][q] = zero16();
    for (long j = 0; j < c; j++) {
        v16 wv[MAX_NV];
        for (int q = 0; q < NV; q++) wv[q] = load16(u + j * f + 16 * q);
        for (int p = 0; p < PX; p++) {
            float s = v[p * c + j];
            for (int q = 0; q < NV; q++) acc[p][q] += wv[q] * s;
        }
    }
    for (int p = 0; p < PX; p++)
        for (int q = 0; q < NV; q++) store16(m + p * f + 16 * q, acc[p][q]);
}

AI void gemm_all(const int M, const int PX, const int NV, const wino_args *a, long count) {
    const int A = M + 2;
    long c = a->c, f = a->f, rows = (count + PX - 1) / PX * PX;
    for (int t = 0; t < A * A; t++) {
        const float *vt = a->v + t * BLOCK * c, *ut = a->u + t * c * f;
        float *mt = a->m + t * BLOCK * f;
        for (long f0 = 0; f0 < f; f0 += 16 * NV)
            for (long p = 0; p < rows; p += PX) gemm_block(PX, NV, vt + p * c, c, ut + f0, f, mt + p * f + f0);
    }
}

/* `v > mx`, then keep v and its position where it is (strictly) greater, so ties go to the first (as
 * conv_kernels.c's POOL_STEP). */
#define WPOOL_STEP(val, pos) { v16 v_ = (val); v16i gt_ = v_ > mx; \
    mx = (v16)(((v16i)v_ & gt_) | ((v16i)mx & ~gt_)); k = (k & ~gt_) | (gt_ & (pos)); }

/* Y = Aᵀ M A (+ bias, ReLU) for the block's tiles, then stored or pooled. */
AI void output_block(const int M, const wino_args *a, long g0, long count) {
    const int A = M + 2;
    long per = a->th * a->tw, f = a->f;
    long ph = a->oh / 2, pw = a->ow / 2;
    for (long p = 0; p < count; p++) {
        long gi = g0 + p, s = gi / per, r = gi % per, oy0 = (r / a->tw) * M, ox0 = (r % a->tw) * M;
        for (long f0 = 0; f0 < f; f0 += 16) {
            v16 mm[6 * 6], tmp[4 * 6], o[4 * 4];
            for (int t = 0; t < A * A; t++) mm[t] = load16(a->m + (t * BLOCK + p) * f + f0);
            for (int j = 0; j < A; j++) at(M, mm + j, A, tmp + j, A);        /* tmp[M][α] = Aᵀ m */
            for (int i = 0; i < M; i++) at(M, tmp + i * A, 1, o + i * M, 1); /* o[M][M] = tmp A */
            v16 b = a->bias ? load16(a->bias + f0) : zero16();
            for (int k = 0; k < M * M; k++) {
                o[k] += b;
                if (a->relu) o[k] = __builtin_elementwise_max(o[k], zero16());
            }
            if (!a->pool) {
                for (int i = 0; i < M; i++) {
                    long oy = oy0 + i;
                    if (oy >= a->oh) break;
                    for (int j = 0; j < M; j++) {
                        long ox = ox0 + j;
                        if (ox >= a->ow) break;
                        store16(a->y + ((s * a->oh + oy) * a->ow + ox) * f + f0, o[i * M + j]);
                    }
                }
            } else {
                for (int i = 0; i < M / 2; i++) {
                    long py = oy0 / 2 + i;
                    if (py >= ph) break;
                    for (int j = 0; j < M / 2; j++) {
                        long px = ox0 / 2 + j;
                        if (px >= pw) break;
                        const v16 *w0 = o + 2 * i * M + 2 * j;
                        v16 mx = w0[0];
                        v16i k = {0};
                        WPOOL_STEP(w0[1], 1)
                        WPOOL_STEP(w0[M], 2)
                        WPOOL_STEP(w0[M + 1], 3)
                        long at_ = ((s * ph + py) * pw + px) * f + f0;
                        store16(a->y + at_, mx);
                        *(v16bu *)(a->arg + at_) = __builtin_convertvector(k, v16b);
                    }
                }
            }
        }
    }
}

AI void forward_all(const int M, const int P1, const int P2, const wino_args *a) {
    long total = a->n * a->th * a->tw;
    for (long g0 = 0; g0 < total; g0 += BLOCK) {
        long count = total - g0 < BLOCK ? total - g0 : BLOCK;
        input_block(M, a, g0, count);
        if (a->f % 32 == 0) gemm_all(M, P2, 2, a, count);
        else gemm_all(M, P1, 1, a, count);
        output_block(M, a, g0, count);
    }
}

/* ---- kernel gradient ------------------------------------------------------------------------------------------
 *
 * The forward tile is Y = Aᵀ [U ⊙ V] A with U = G g Gᵀ, linear in g, so its adjoint gives the kernel gradient:
 * dg = Gᵀ [Σ_tiles V ⊙ (A dY Aᵀ)] G. The sum over every tile of the batch runs in the transformed domain — per
 * transform point t an [C × tiles] · [tiles × F] product accumulated in s[t][c][f] — and the inverse filter
 * transform runs once per call. Gradient pixels outside the output are zero, so partial edge tiles add nothing. */

/* A y: the output transform's adjoint, M values to α. */
AI void a_t(const int M, const v16 *y, long ys, v16 *o, long os) {
    if (M == 2) {
        v16 y0 = y[0], y1 = y[ys];
        o[0] = y0; o[os] = y0 + y1; o[2 * os] = y0 - y1; o[3 * os] = -y1;
    } else {
        v16 y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys];
        v16 e = y0 + y2, od = y1 + y3, e4 = y0 + 4 * y2, o8 = 2 * y1 + 8 * y3;
        o[0] = y0;
        o[os] = e + od; o[2 * os] = e - od;
        o[3 * os] = e4 + o8; o[4 * os] = e4 - o8;
        o[5 * os] = y3;
    }
}

/* Gᵀ s: the kernel transform's adjoint, α values to 3. */
AI void g_t(const int M, const v16 *s, long ss, v16 *o, long os) {
    if (M == 2) {
        v16 s1 = s[ss], s2 = s[2 * ss], h = 0.5f * (s1 + s2);
        o[0] = s[0] + h; o[os] = 0.5f * (s1 - s2); o[2 * os] = h + s[3 * ss];
    } else {
        v16 s1 = s[ss], s2 = s[2 * ss], s3 = s[3 * ss], s4 = s[4 * ss];
        o[0] = 0.25f * s[0] - (1.0f / 6) * (s1 + s2) + (1.0f / 24) * (s3 + s4);
        o[os] = (1.0f / 6) * (s2 - s1) + (1.0f / 12) * (s3 - s4);
        o[2 * os] = (1.0f / 6) * (s3 + s4 - s1 - s2) + s[5 * ss];
    }
}

/* The output-gradient tiles g0 … g0+count: m[t][p][f] = (A dY Aᵀ)[t], and db += their sum; the rest of the
 * block is zeroed. */
AI void gradient_block(const int M, const wino_args *a, long g0, long count, float *db) {
    const int A = M + 2;
    long per = a->th * a->tw, f = a->f;
    for (long p = 0; p < count; p++) {
        long gi = g0 + p, s = gi / per, r = gi % per, oy0 = (r / a->tw) * M, ox0 = (r % a->tw) * M;
        const float *ys = a->y + s * a->oh * a->ow * f;
        for (long f0 = 0; f0 < f; f0 += 16) {
            v16 d[4 * 4], tmp[6 * 4], o[6 * 6], sum = zero16();
            for (int i = 0; i < M; i++)
                for (int j = 0; j < M; j++) {
                    long oy = oy0 + i, ox = ox0 + j;
                    d[i * M + j] = oy < a->oh && ox < a->ow ? load16(ys + (oy * a->ow + ox) * f + f0) : zero16();
                    sum += d[i * M + j];
                }
            if (db) store16(db + f0, load16(db + f0) + sum);
            for (int j = 0; j < M; j++) a_t(M, d + j, M, tmp + j, M);        /* tmp[α][M] = A dY */
            for (int i = 0; i < A; i++) a_t(M, tmp + i * M, 1, o + i * A, 1); /* o[α][α] = tmp Aᵀ */
            for (int t = 0; t < A * A; t++) store16(a->m + (t * BLOCK + p) * f + f0, o[t]);
        }
    }
    if (count < BLOCK)
        for (int t = 0; t < A * A; t++)
            memset(a->m + (t * BLOCK + count) * f, 0, sizeof(float) * (size_t)((BLOCK - count) * f));
}

/* s[c0 … c0+R][f0 …] += Σ_p v[p][c0 …] · m[p][f0 …] over the block's `count` tiles, for R channels and NV
 * vectors of filters: the accumulators stay in registers across the block. */
AI void dw_gemm_block(const int R, const int NV, const float *v, long c, const float *m, long f, float *s,
                      long count) {
    v16 acc[MAX_PX][MAX_NV];
    for (int r = 0; r < R; r++)
        for (int q = 0; q < NV; q++) acc[r][q] = load16(s + r * f + 16 * q);
    for (long p = 0; p < count; p++) {
        v16 g[MAX_NV];
        for (int q = 0; q < NV; q++) g[q] = load16(m + p * f + 16 * q);
        for (int r = 0; r < R; r++) {
            float x = v[p * c + r];
            for (int q = 0; q < NV; q++) acc[r][q] += g[q] * x;
        }
    }
    for (int r = 0; r < R; r++)
        for (int q = 0; q < NV; q++) store16(s + r * f + 16 * q, acc[r][q]);
}

/* Channel counts are multiples of 16, so the remainders of R = 12 or 6 are 2, 4 or 8. */
#define DW_GEMM_REM(k) dw_gemm_block(k, NV, vt + c0, c, mt + f0, f, st + c0 * f + f0, count)
AI void dw_gemm_all(const int M, const int R, const int NV, const wino_args *a, float *s, long count) {
    const int A = M + 2;
    long c = a->c, f = a->f;
    for (int t = 0; t < A * A; t++) {
        const float *vt = a->v + t * BLOCK * c, *mt = a->m + t * BLOCK * f;
        float *st = s + t * c * f;
        for (long f0 = 0; f0 < f; f0 += 16 * NV) {
            long c0 = 0;
            for (; c0 + R <= c; c0 += R) dw_gemm_block(R, NV, vt + c0, c, mt + f0, f, st + c0 * f + f0, count);
            switch (c - c0) {
            case 0: break;
            case 2: DW_GEMM_REM(2); break;
            case 4: DW_GEMM_REM(4); break;
            case 8: DW_GEMM_REM(8); break;
            default: for (; c0 < c; c0++) DW_GEMM_REM(1); break;
            }
        }
    }
}

/* dw[ky][kx][c][f] += (Gᵀ s G)[ky][kx]. */
AI void dw_inverse(const int M, const float *s, float *dw, long c, long f) {
    const int A = M + 2;
    for (long i = 0; i < c; i++)
        for (long f0 = 0; f0 < f; f0 += 16) {
            v16 sv[6 * 6], tmp[3 * 6], o[3 * 3];
            for (int t = 0; t < A * A; t++) sv[t] = load16(s + (t * c + i) * f + f0);
            for (int b = 0; b < A; b++) g_t(M, sv + b, A, tmp + b, A);       /* tmp[3][α] = Gᵀ s */
            for (int k = 0; k < 3; k++) g_t(M, tmp + k * A, 1, o + 3 * k, 1); /* o[3][3] = tmp G */
            for (int k = 0; k < 9; k++) {
                float *d = dw + (k * c + i) * f + f0;
                store16(d, load16(d) + o[k]);
            }
        }
}

/* `a->y` is the output gradient here; `s` the transformed accumulators. */
AI void filter_all(const int M, const int R1, const int R2, const wino_args *a, float *s, float *dw, float *db) {
    const int A = M + 2;
    memset(s, 0, sizeof(float) * (size_t)(A * A * a->c * a->f));
    long total = a->n * a->th * a->tw;
    for (long g0 = 0; g0 < total; g0 += BLOCK) {
        long count = total - g0 < BLOCK ? total - g0 : BLOCK;
        input_block(M, a, g0, count);
        gradient_block(M, a, g0, count, db);
        if (a->f % 32 == 0) dw_gemm_all(M, R2, 2, a, s, count);
        else dw_gemm_all(M, R1, 1, a, s, count);
    }
    dw_inverse(M, s, dw, a->c, a->f);
}

/* Block widths as conv_kernels.c's: AVX-512 has 32 registers (24 accumulators), AVX2 16 of half the width. */
__attribute__((target("avx512f"))) static void fwd2_avx512(const wino_args *a) { forward_all(2, 12, 12, a); }
__attribute__((target("avx512f"))) static void fwd4_avx512(const wino_args *a) { forward_all(4, 12, 12, a); }
__attribute__((target("avx2,fma"))) static void fwd2_avx2(const wino_args *a) { forward_all(2, 6, 3, a); }
__attribute__((target("avx2,fma"))) static void fwd4_avx2(const wino_args *a) { forward_all(4, 6, 3, a); }
__attribute__((target("avx512f"))) static void kt2_avx512(const float *w, float *u, long c, long f, int flip) {
    kernel_transform(2, w, u, c, f, flip);
}
__attribute__((target("avx512f"))) static void kt4_avx512(const float *w, float *u, long c, long f, int flip) {
    kernel_transform(4, w, u, c, f, flip);
}
__attribute__((target("avx2,fma"))) static void kt2_avx2(const float *w, float *u, long c, long f, int flip) {
    kernel_transform(2, w, u, c, f, flip);
}
__attribute__((target("avx2,fma"))) static void kt4_avx2(const float *w, float *u, long c, long f, int flip) {
    kernel_transform(4, w, u, c, f, flip);
}

/* AVX-512: 12 channels × 2 vectors (24 accumulators); AVX2: 6 channels × one 16-filter vector (12 registers). */
__attribute__((target("avx512f"))) static void dw2_avx512(const wino_args *a, float *s, float *dw, float *db) {
    filter_all(2, 12, 12, a, s, dw, db);
}
__attribute__((target("avx512f"))) static void dw4_avx512(const wino_args *a, float *s, float *dw, float *db) {
    filter_all(4, 12, 12, a, s, dw, db);
}
__attribute__((target("avx2,fma"))) static void dw2_avx2(const wino_args *a, float *s, float *dw, float *db) {
    filter_all(2, 6, 6, a, s, dw, db);
}
__attribute__((target("avx2,fma"))) static void dw4_avx2(const wino_args *a, float *s, float *dw, float *db) {
    filter_all(4, 6, 6, a, s, dw, db);
}

int sequent_winograd_available(void) { return sequent_kernel_level() > 0 && !getenv("SEQUENT_NO_WINOGRAD"); }

long sequent_winograd_scratch(long m, long c, long f) {
    long t = (m + 2) * (m + 2);
    return t * c * f + t * BLOCK * (c + f);
}

int sequent_winograd_forward(const float *x, const float *w, const float *bias, float *y, unsigned char *arg,
                             float *scratch, long n, long h, long wd, long c, long f, long pad, long m, int relu,
                             int pool, int input_gradient) {
    long ci = input_gradient ? f : c, co = input_gradient ? c : f;   /* this convolution's inputs and outputs */
    long oh = h + 2 * pad - 2, ow = wd + 2 * pad - 2;
    int level = sequent_kernel_level();
    if ((m != 2 && m != 4) || ci % 16 != 0 || co % 16 != 0 || oh < 1 || ow < 1 || (pool && (oh < 2 || ow < 2))
        || level == 0)
        return 0;
    long t = (m + 2) * (m + 2);
    float *u = scratch;
    wino_args a = {.x = x, .u = u, .bias = bias, .y = y, .arg = arg, .v = scratch + t * c * f,
                   .n = n, .h = h, .w = wd, .c = ci, .f = co, .pad = pad, .oh = oh, .ow = ow, .relu = relu,
                   .pool = pool};
    a.m = a.v + t * BLOCK * ci;
    long rows = pool ? oh / 2 * 2 : oh, cols = pool ? ow / 2 * 2 : ow;
    a.th = (rows + m - 1) / m;
    a.tw = (cols + m - 1) / m;
    if (level == 2) {
        if (m == 2) { kt2_avx512(w, u, c, f, input_gradient); fwd2_avx512(&a); }
        else { kt4_avx512(w, u, c, f, input_gradient); fwd4_avx512(&a); }
    } else {
        if (m == 2) { kt2_avx2(w, u, c, f, input_gradient); fwd2_avx2(&a); }
        else { kt4_avx2(w, u, c, f, input_gradient); fwd4_avx2(&a); }
    }
    return 1;
}

int sequent_winograd_backward_filter(const float *x, const float *dy, float *dw, float *db, float *scratch, long n,
                                     long h, long wd, long c, long f, long m) {
    long oh = h - 2, ow = wd - 2;
    int level = sequent_kernel_level();
    if ((m != 2 && m != 4) || c % 16 != 0 || f % 16 != 0 || oh < 1 || ow < 1 || level == 0) return 0;
    long t = (m + 2) * (m + 2);
    /* The output gradient goes where the forward pass's output does; its transform where the products do. */
    wino_args a = {.x = x, .y = (float *)dy, .v = scratch + t * c * f, .n = n, .h = h, .w = wd, .c = c, .f = f,
                   .oh = oh, .ow = ow, .th = (oh + m - 1) / m, .tw = (ow + m - 1) / m};
    a.m = a.v + t * BLOCK * c;
    if (level == 2) {
        if (m == 2) dw2_avx512(&a, scratch, dw, db);
        else dw4_avx512(&a, scratch, dw, db);
    } else {
        if (m == 2) dw2_avx2(&a, scratch, dw, db);
        else dw4_avx2(&a, scratch, dw, db);
    }
    return 1;
}

#else

int sequent_winograd_available(void) { return 0; }
long sequent_winograd_scratch(long m, long c, long f) { return 0; }
int sequent_winograd_forward(const float *x, const float *w, const float *bias, float *y, unsigned char *arg,
                             float *scratch, long n, long h, long wd, long c, long f, long pad, long m, int relu,
                             int pool, int input_gradient) { return 0; }
int sequent_winograd_backward_filter(const float *x, const float *dy, float *dw, float *db, float *scratch, long n,
                                     long h, long wd, long c, long f, long m) { return 0; }

#endif
