/* Direct 3-D convolution kernels (NHWC input, HWIO kernel, valid padding, stride 1).
 *
 * Why not im2col + sgemm everywhere: for the first layers of image networks (3 input channels, 16–64 filters)
 * the GEMM is skinny — K = 27, N = 16 — so OpenBLAS spends more time packing the huge column matrix than
 * multiplying, and the column matrix itself (27 floats per output pixel) streams through DRAM several times.
 * These kernels read the image in place and keep a block of outputs in registers: PX output pixels × NV
 * vectors of 16 filters, loading each weight vector once per PX pixels and broadcasting each input value once
 * per NV vectors. The block shapes are compile-time constants (the always-inline helpers are instantiated with
 * literals), so the accumulators live in registers.
 *
 * Each public entry returns 0 when it cannot handle the shape or CPU (the caller then uses im2col + sgemm).
 */
#include "sequent_support.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))

/* Largest block dimensions. The accumulator arrays are declared at these fixed sizes rather than [PX][NV]: with
 * the sizes as (inlined, constant) parameters they are variable-length arrays, which clang kept on the stack —
 * re-aligning it and bouncing every loaded vector through memory on each iteration. */
#define MAX_PX 12
#define MAX_NV 2

typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
typedef unsigned char v16b __attribute__((vector_size(16)));
/* The same vectors with 1- or 4-byte alignment: dereferencing them is an unaligned load or store. (Macros rather
 * than helper functions, because passing 64-byte vectors by value outside AVX-512 code changes the ABI.) */
typedef float v16u __attribute__((vector_size(64), aligned(4)));
typedef unsigned char v16bu __attribute__((vector_size(16), aligned(1)));
#define load16(p) (*(const v16u *)(p))
#define store16(p, v) (*(v16u *)(p) = (v))
#define zero16() ((v16){0})

/* ---- 2×2 max-pooling, stride 2 ------------------------------------------------------------------------------ */

/* Each output keeps the position (0 … 3, row-major in its window) of its window's first maximum as one byte:
 * a quarter of the memory traffic of an input offset. Portable vector code: it builds for any target, and the
 * dispatchers below pick an AVX-512 or AVX2 build of it. */

/* `v > m`, then keep v and its position where it is (strictly) greater, so ties go to the first. */
#define POOL_STEP(v, pos) { v16 v_ = (v); v16i gt = v_ > m; \
    m = (v16)(((v16i)v_ & gt) | ((v16i)m & ~gt)); k = (k & ~gt) | (gt & (pos)); }

/* One output row from the two input rows `r0`, `r1`: `pw` pixels of `c` channels. */
AI void pool_row(const float *r0, const float *r1, long pw, long c, float *y, unsigned char *arg) {
    for (long px = 0; px < pw; px++) {
        const float *a0 = r0 + 2 * px * c, *a1 = a0 + c, *b0 = r1 + 2 * px * c, *b1 = b0 + c;
        float *yp = y + px * c;
        unsigned char *ap = arg + px * c;
        long ch = 0;
        for (; ch + 16 <= c; ch += 16) {
            v16 m = load16(a0 + ch);
            v16i k = {0};
            POOL_STEP(load16(a1 + ch), 1)
            POOL_STEP(load16(b0 + ch), 2)
            POOL_STEP(load16(b1 + ch), 3)
            store16(yp + ch, m);
            *(v16bu *)(ap + ch) = __builtin_convertvector(k, v16b);
        }
        for (; ch < c; ch++) {
            float m = a0[ch], v[3] = {a1[ch], b0[ch], b1[ch]};
            unsigned char k = 0;
            for (int i = 0; i < 3; i++)
                if (v[i] > m) { m = v[i]; k = (unsigned char)(i + 1); }
            yp[ch] = m;
            ap[ch] = k;
        }
    }
}

AI void pool_forward(const float *x, float *y, unsigned char *arg, long n, long h, long w, long c) {
    long ph = h / 2, pw = w / 2;
    for (long s = 0; s < n; s++)
        for (long py = 0; py < ph; py++) {
            long o = (s * ph + py) * pw * c;
            const float *r0 = x + ((s * h + 2 * py) * w) * c;
            pool_row(r0, r0 + w * c, pw, c, y + o, arg + o);
        }
}

/* Row `oy` of sample `s`'s input gradient (`ow` pixels of `c` channels) from the pooled gradient `dy`, the
 * pool's output `y` and positions `arg` (`ph` × `pw` windows): each value goes to its window's recorded position
 * — with `relu`, only where the maximum (the ReLU's output there) is positive — and everything else is zero,
 * including a last odd row or column, so the row needs no clearing first. */
AI void unpool_row(const float *dy, const float *y, const unsigned char *arg, long s, long oy, long ph, long pw,
                   long ow, long c, int relu, float *out) {
    if (oy >= 2 * ph) { memset(out, 0, sizeof(float) * (size_t)(ow * c)); return; }
    long o = (s * ph + oy / 2) * pw * c;
    int k0 = 2 * (int)(oy % 2);
    for (long px = 0; px < pw; px++, o += c) {
        float *q0 = out + 2 * px * c, *q1 = q0 + c;
        long ch = 0;
        for (; ch + 16 <= c; ch += 16) {
            v16i g = (v16i)load16(dy + o + ch);
            if (relu) g &= load16(y + o + ch) > zero16();
            v16i k = __builtin_convertvector(*(const v16bu *)(arg + o + ch), v16i);
            store16(q0 + ch, (v16)(g & (k == k0)));
            store16(q1 + ch, (v16)(g & (k == k0 + 1)));
        }
        for (; ch < c; ch++) {
            float g = relu && !(y[o + ch] > 0) ? 0 : dy[o + ch];
            q0[ch] = arg[o + ch] == k0 ? g : 0;
            q1[ch] = arg[o + ch] == k0 + 1 ? g : 0;
        }
    }
    if (ow % 2) memset(out + (ow - 1) * c, 0, sizeof(float) * (size_t)c);
}

/* All of dx (`h` × `w` inputs per sample), so dx needs no clearing first. */
AI void pool_backward(const float *dy, const float *y, const unsigned char *arg, float *dx, long n, long h, long w,
                      long c, int relu) {
    for (long s = 0; s < n; s++)
        for (long oy = 0; oy < h; oy++)
            unpool_row(dy, y, arg, s, oy, h / 2, w / 2, w, c, relu, dx + (s * h + oy) * w * c);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void pool_forward_avx512(const float *x, float *y, unsigned char *arg,
                                                                   long n, long h, long w, long c) {
    pool_forward(x, y, arg, n, h, w, c);
}
__attribute__((target("avx2"))) static void pool_forward_avx2(const float *x, float *y, unsigned char *arg, long n,
                                                              long h, long w, long c) {
    pool_forward(x, y, arg, n, h, w, c);
}
__attribute__((target("avx512f"))) static void pool_backward_avx512(const float *dy, const float *y,
                                                                    const unsigned char *arg, float *dx, long n,
                                                                    long h, long w, long c, int relu) {
    pool_backward(dy, y, arg, dx, n, h, w, c, relu);
}
__attribute__((target("avx2"))) static void pool_backward_avx2(const float *dy, const float *y,
                                                               const unsigned char *arg, float *dx, long n, long h,
                                                               long w, long c, int relu) {
    pool_backward(dy, y, arg, dx, n, h, w, c, relu);
}
#endif

#if defined(__x86_64__)
static int cpu_level(void);
#endif

/* The same instruction-set level as the convolution kernels, so `sequent_conv2d_limit_level` covers these too. */
void sequent_maxpool2_forward(const float *x, float *y, unsigned char *arg, long n, long h, long w, long c) {
#if defined(__x86_64__)
    switch (cpu_level()) {
    case 2: pool_forward_avx512(x, y, arg, n, h, w, c); return;
    case 1: pool_forward_avx2(x, y, arg, n, h, w, c); return;
    default: break;
    }
#endif
    pool_forward(x, y, arg, n, h, w, c);
}

void sequent_maxpool2_backward(const float *dy, const float *y, const unsigned char *arg, float *dx, long n, long h,
                               long w, long c, int relu) {
#if defined(__x86_64__)
    switch (cpu_level()) {
    case 2: pool_backward_avx512(dy, y, arg, dx, n, h, w, c, relu); return;
    case 1: pool_backward_avx2(dy, y, arg, dx, n, h, w, c, relu); return;
    default: break;
    }
#endif
    pool_backward(dy, y, arg, dx, n, h, w, c, relu);
}

#if defined(__x86_64__)

/* ---- forward ------------------------------------------------------------------------------------------------ */

/* Outputs for PX consecutive pixels of one row. `x` is the first pixel's window origin, `run` = KW·C floats of
 * each kernel row, contiguous in both the image and the kernel. */
AI void fwd_block(const int PX, const int NV, const float *x, long c, long row, long kh, long run,
                  const float *w, long f, const float *bias, int relu, float *y) {
    v16 acc[MAX_PX][MAX_NV];
    for (int v = 0; v < NV; v++) {
        v16 b = bias ? load16(bias + 16 * v) : zero16();
        for (int p = 0; p < PX; p++) acc[p][v] = b;
    }
    for (long ky = 0; ky < kh; ky++) {
        const float *xk = x + ky * row;
        const float *wk = w + ky * run * f;
        for (long j = 0; j < run; j++) {
            v16 wv[MAX_NV];
            for (int v = 0; v < NV; v++) wv[v] = load16(wk + j * f + 16 * v);
            for (int p = 0; p < PX; p++) {
                float s = xk[p * c + j];
                for (int v = 0; v < NV; v++) acc[p][v] += wv[v] * s;
            }
        }
    }
    for (int p = 0; p < PX; p++)
        for (int v = 0; v < NV; v++)
            store16(y + p * f + 16 * v, relu ? __builtin_elementwise_max(acc[p][v], zero16()) : acc[p][v]);
}

/* A switch that instantiates BLOCK(n) for every remainder 1..23 smaller than the main block width. */
#define REMAINDER_SWITCH(rem, PXM, BLOCK)                                                          \
    switch (rem) {                                                                                 \
    case 1: BLOCK(1); break;  case 2: if (2 < PXM) BLOCK(2); break;                                \
    case 3: if (3 < PXM) BLOCK(3); break;  case 4: if (4 < PXM) BLOCK(4); break;                   \
    case 5: if (5 < PXM) BLOCK(5); break;  case 6: if (6 < PXM) BLOCK(6); break;                   \
    case 7: if (7 < PXM) BLOCK(7); break;  case 8: if (8 < PXM) BLOCK(8); break;                   \
    case 9: if (9 < PXM) BLOCK(9); break;  case 10: if (10 < PXM) BLOCK(10); break;                \
    case 11: if (11 < PXM) BLOCK(11); break;                                                       \
    default: break;                                                                                \
    }

typedef struct {
    const float *x, *w, *bias, *dy;
    float *y, *dw, *db, *dx, *wt, *pad;
    unsigned char *arg;
    const float *py;            /* backward through a pool: its output, and its positions */
    const unsigned char *parg;
    long n, h, wd, c, kh, kw, f;
    long r0, r1;                /* forward: the output rows computed, counted over the batch (see the _rows entries) */
    int relu;
} conv_args;

/* One output row of `width` pixels: `xr` is its first input row, `yr` where it goes. */
#define FWD_ROW(PXM, NV, width)                                                                      \
    for (long f0 = 0; f0 < a->f; f0 += 16 * NV) {                                                   \
        const float *wf = a->w + f0, *bf = a->bias ? a->bias + f0 : 0;                               \
        long ox = 0;                                                                                 \
        for (; ox + PXM <= (width); ox += PXM)                                                       \
            fwd_block(PXM, NV, xr + ox * a->c, a->c, a->wd * a->c, a->kh, run, wf, a->f, bf, a->relu,    \
                      yr + ox * a->f + f0);                                                          \
        REMAINDER_SWITCH((width) - ox, PXM, FWD_REM)                                                 \
    }
#define FWD_REM(k) fwd_block(k, NV_, xr + ox * a->c, a->c, a->wd * a->c, a->kh, run, wf, a->f, bf, a->relu, \
                             yr + ox * a->f + f0)

/* Rows r0 ..< r1 of the batch's n·oh output rows (row r is sample r / oh's row r % oh); the input and output
 * pointers are the batch's, so a row range is a slice of the same computation. */
#define FWD_ROWS(PXM, NV)                                                                            \
    for (long r = a->r0; r < a->r1; r++) {                                                           \
        long s = r / oh, oy = r % oh;                                                                \
        const float *xr = a->x + ((s * a->h + oy) * a->wd) * a->c;                                   \
        float *yr = a->y + ((s * oh + oy) * ow) * a->f;                                              \
        FWD_ROW(PXM, NV, ow)                                                                         \
    }

/* Convolution + 2×2 max-pool: each pair of output rows (only the columns the pool uses) goes to the small
 * `rows` buffer, still in L1/L2, and is pooled from there, so the full-size convolution output is never
 * written to memory and read back. */
#define FWD_POOL_ROWS(PXM, NV)                                                                       \
    for (long q = a->r0; q < a->r1; q++) {                                                           \
        long s = q / ph, py = q % ph;                                                                \
        for (long r = 0; r < 2; r++) {                                                               \
            const float *xr = a->x + ((s * a->h + 2 * py + r) * a->wd) * a->c;                       \
            float *yr = a->pad + r * 2 * pw * a->f;                                                  \
            FWD_ROW(PXM, NV, 2 * pw)                                                                 \
        }                                                                                            \
        long o = (s * ph + py) * pw * a->f;                                                          \
        pool_row(a->pad, a->pad + 2 * pw * a->f, pw, a->f, a->y + o, a->arg + o);                    \
    }

#define FWD_POOL_BODY(P1, P2)                                                                        \
    long ph = (a->h - a->kh + 1) / 2, pw = (a->wd - a->kw + 1) / 2, run = a->kw * a->c;              \
    if (a->f % 32 == 0) { enum { NV_ = 2 }; FWD_POOL_ROWS(P2, 2) }                                   \
    else { enum { NV_ = 1 }; FWD_POOL_ROWS(P1, 1) }

#define FWD_BODY(P1, P2)                                                                         \
    long oh = a->h - a->kh + 1, ow = a->wd - a->kw + 1, run = a->kw * a->c;                          \
    if (a->f % 32 == 0) { enum { NV_ = 2 }; FWD_ROWS(P2, 2) }                                        \
    else { enum { NV_ = 1 }; FWD_ROWS(P1, 1) }

/* ---- gradient of the kernel ----------------------------------------------------------------------------------- */

/* dw[r, f0 .. f0+16·NV) += Σ_(oy, ox) x[(oy, ox)·C + r] · dy[oy, ox, …] for R consecutive kernel rows r of one
 * kernel row ky (a kernel row is one (ky, kx, c); the KW·C of one ky are contiguous in the image), over `rows`
 * output rows: the accumulators stay in registers for the whole band. `x` is the block's first input value for
 * output pixel (0, 0). Keeping a block within one ky makes its R input values fixed displacements from one
 * pointer; blocks spanning two ky needed an offset register per row, which spilled and doubled the loads. */
AI void dw_block(const int R, const int NV, const float *x, long xrow, long c, const float *dy, long dyrow,
                 long rows, long ow, long f, float *dw) {
    v16 acc[MAX_PX][MAX_NV];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = load16(dw + r * f + 16 * v);
    for (long oy = 0; oy < rows; oy++) {
        const float *xr = x + oy * xrow, *dyr = dy + oy * dyrow;
        for (long ox = 0; ox < ow; ox++) {
            v16 d[MAX_NV];
            for (int v = 0; v < NV; v++) d[v] = load16(dyr + ox * f + 16 * v);
            const float *xq = xr + ox * c;
            for (int r = 0; r < R; r++) {
                float s = xq[r];
                for (int v = 0; v < NV; v++) acc[r][v] += d[v] * s;
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) store16(dw + r * f + 16 * v, acc[r][v]);
}

/* The first layer of an image network (3 × 3 kernel, ≤ 3 channels, so KW·C ≤ 9) with 16·k filters: all three
 * kernel rows at once, 27 accumulators (AVX-512 has 32 registers), so each gradient vector is loaded once for
 * 27 multiply-adds rather than 9. With 9 the loop streamed 64 bytes of gradient per 9 FMAs and ran at a third
 * of the forward pass's rate. `dw` is this block's first row of kernel row 0; `dwky` floats separate the kernel
 * rows. */
AI void dw_block_3ky(const int R, const float *x, long xrow, long c, const float *dy, long dyrow, long rows, long ow,
                     long f, float *dw, long dwky) {
    v16 acc[3][9];
    for (int b = 0; b < 3; b++)
        for (int r = 0; r < R; r++) acc[b][r] = load16(dw + b * dwky + r * f);
    for (long oy = 0; oy < rows; oy++) {
        const float *x0 = x + oy * xrow, *x1 = x0 + xrow, *x2 = x1 + xrow, *dyr = dy + oy * dyrow;
        for (long ox = 0; ox < ow; ox++) {
            v16 d = load16(dyr + ox * f);
            for (int r = 0; r < R; r++) {
                acc[0][r] += d * x0[ox * c + r];
                acc[1][r] += d * x1[ox * c + r];
                acc[2][r] += d * x2[ox * c + r];
            }
        }
    }
    for (int b = 0; b < 3; b++)
        for (int r = 0; r < R; r++) store16(dw + b * dwky + r * f, acc[b][r]);
}

/* Output rows per band: the band's input rows and gradient rows together fit in ~32 KB of L1, so every block of
 * kernel rows re-reads them from L1. */
static long dw_band(long kh, long wd, long c, long ow, long f) {
    long per = wd * c + ow * f, band = (8192 - (kh - 1) * wd * c) / (per > 0 ? per : 1);
    return band < 1 ? 1 : band;
}

/* The kernel gradient from one sample: `xs` its input, `dys` its output gradient with rows `dyrow` floats apart. */
#define DW_SAMPLE(RM, NV, xs, dys, DYROW)                                                            \
    for (long oy = 0, dyrow = (DYROW); oy < oh; oy += band) {                                        \
        long rows = oh - oy < band ? oh - oy : band;                                                 \
        const float *dyr = (dys) + oy * dyrow;                                                       \
        if (NV == 1 && RM >= 12 && a->kh == 3 && run <= 9) {                                         \
            const float *xr = (xs) + oy * a->wd * a->c;                                              \
            switch (run) {                                                                           \
            case 1: DW3(1); break; case 2: DW3(2); break; case 3: DW3(3); break;                     \
            case 4: DW3(4); break; case 5: DW3(5); break; case 6: DW3(6); break;                     \
            case 7: DW3(7); break; case 8: DW3(8); break; default: DW3(9); break;                    \
            }                                                                                        \
        } else                                                                                       \
        for (long ky = 0; ky < a->kh; ky++) {                                                        \
            const float *xr = (xs) + ((oy + ky) * a->wd) * a->c;                                     \
            float *dwk = a->dw + ky * run * a->f;                                                    \
            for (long f0 = 0; f0 < a->f; f0 += 16 * NV) {                                            \
                long j = 0;                                                                          \
                for (; j + RM <= run; j += RM)                                                       \
                    dw_block(RM, NV, xr + j, a->wd * a->c, a->c, dyr + f0, dyrow, rows, ow, a->f,    \
                             dwk + j * a->f + f0);                                                   \
                REMAINDER_SWITCH(run - j, RM, DW_REM)                                                \
            }                                                                                        \
        }                                                                                            \
        if (a->db) bias_rows(dyr, dyrow, rows, ow, a->f, a->db);                                     \
    }
#define DW3(R) for (long f0 = 0; f0 < a->f; f0 += 16)                                                \
    dw_block_3ky(R, xr, a->wd * a->c, a->c, dyr + f0, dyrow, rows, ow, a->f, a->dw + f0, run * a->f)
#define DW_REM(k) dw_block(k, NV_, xr + j, a->wd * a->c, a->c, dyr + f0, dyrow, rows, ow, a->f, dwk + j * a->f + f0)

#define DW_ROWS(RM, NV)                                                                              \
    for (long s = 0; s < a->n; s++) {                                                                \
        const float *xs = a->x + s * a->h * a->wd * a->c, *dys = a->dy + s * oh * ow * a->f;         \
        DW_SAMPLE(RM, NV, xs, dys, ow * a->f)                                                        \
    }

#define DW_BODY(P1, P2)                                                                          \
    long oh = a->h - a->kh + 1, ow = a->wd - a->kw + 1, run = a->kw * a->c;                          \
    long band = dw_band(a->kh, a->wd, a->c, ow, a->f);                                               \
    if (a->f % 32 == 0) { enum { NV_ = 2 }; DW_ROWS(P2, 2) }                                         \
    else { enum { NV_ = 1 }; DW_ROWS(P1, 1) }

/* db += Σ over `rows` × `ow` gradient pixels (the bias gradient, while they are in cache). */
AI void bias_rows(const float *dy, long dyrow, long rows, long ow, long f, float *db) {
    for (long f0 = 0; f0 < f; f0 += 16) {
        v16 acc = load16(db + f0);
        for (long r = 0; r < rows; r++)
            for (long ox = 0; ox < ow; ox++) acc += load16(dy + r * dyrow + ox * f + f0);
        store16(db + f0, acc);
    }
}
/* ---- gradient of the input ------------------------------------------------------------------------------------ */

/* dx for PX consecutive input pixels of one row, channels c0 .. c0+16·NV: the full correlation of dy with the
 * kernel. `dy` is the gradient padded by KH−1 rows and KW−1 columns of zeros on every side, positioned at the
 * block's first pixel, so every pixel sees the whole kernel; `wt` is the kernel transposed to [KH][KW][F][C] so
 * channels are contiguous. */
AI void dx_block(const int PX, const int NV, const float *dy, long prow, long f, const float *wt, long c,
                 long kh, long kw, float *dx) {
    v16 acc[MAX_PX][MAX_NV];
    for (int p = 0; p < PX; p++)
        for (int v = 0; v < NV; v++) acc[p][v] = zero16();
    for (long ky = 0; ky < kh; ky++) {
        for (long kx = 0; kx < kw; kx++) {
            const float *d = dy + ((kh - 1 - ky) * prow + (kw - 1 - kx)) * f;
            const float *wk = wt + (ky * kw + kx) * f * c;
            for (long j = 0; j < f; j++) {
                v16 wv[MAX_NV];
                for (int v = 0; v < NV; v++) wv[v] = load16(wk + j * c + 16 * v);
                for (int p = 0; p < PX; p++) {
                    float s = d[p * f + j];
                    for (int v = 0; v < NV; v++) acc[p][v] += wv[v] * s;
                }
            }
        }
    }
    for (int p = 0; p < PX; p++)
        for (int v = 0; v < NV; v++) store16(dx + p * c + 16 * v, acc[p][v]);
}

/* The input gradient of one sample, whose output gradient is in the middle of `pad` (zero border). */
#define DX_SAMPLE(PXM, NV, dxs)                                                                      \
    for (long iy = 0; iy < a->h; iy++) {                                                             \
        const float *pr = pad + iy * prow * a->f;                                                    \
        float *dxr = (dxs) + iy * a->wd * a->c;                                                      \
        for (long c0 = 0; c0 < a->c; c0 += 16 * NV) {                                                \
            const float *wc = a->wt + c0;                                                            \
            long ix = 0;                                                                             \
            for (; ix + PXM <= a->wd; ix += PXM)                                                     \
                dx_block(PXM, NV, pr + ix * a->f, prow, a->f, wc, a->c, a->kh, a->kw, dxr + ix * a->c + c0); \
            REMAINDER_SWITCH(a->wd - ix, PXM, DX_REM)                                                \
        }                                                                                            \
    }
#define DX_REM(k) dx_block(k, NV_, pr + ix * a->f, prow, a->f, wc, a->c, a->kh, a->kw, dxr + ix * a->c + c0)

#define DX_ROWS(PXM, NV)                                                                             \
    for (long s = 0; s < a->n; s++) {                                                                \
        const float *dys = a->dy + s * oh * ow * a->f;                                               \
        for (long oy = 0; oy < oh; oy++)                                                             \
            memcpy(pad + ((oy + a->kh - 1) * prow + a->kw - 1) * a->f, dys + oy * ow * a->f,        \
                   sizeof(float) * (size_t)(ow * a->f));                                             \
        DX_SAMPLE(PXM, NV, a->dx + s * a->h * a->wd * a->c)                                          \
    }

#define DX_BODY(P1, P2)                                                                          \
    long oh = a->h - a->kh + 1, ow = a->wd - a->kw + 1, prow = a->wd + a->kw - 1;                    \
    float *pad = a->pad;                                                                             \
    if (a->c % 32 == 0) { enum { NV_ = 2 }; DX_ROWS(P2, 2) }                                         \
    else { enum { NV_ = 1 }; DX_ROWS(P1, 1) }

/* ---- backward through convolution + 2×2 max-pool --------------------------------------------------------------- */

/* Per sample: its convolution-output gradient is rebuilt from the pooled one into the middle of `pad` (≤ a few
 * MB, so it stays in cache), and both the kernel gradient and the input gradient read it from there. Separately,
 * the pool's backward pass writes the whole batch's gradient (91 MB for 16 300×300 images at the first layer)
 * and the convolution reads it back, and copies it again into `pad` for the input gradient. */
#define BWD_POOL_BODY(P1, P2, Q1, Q2)                                                                \
    long oh = a->h - a->kh + 1, ow = a->wd - a->kw + 1, run = a->kw * a->c, prow = a->wd + a->kw - 1;  \
    long band = dw_band(a->kh, a->wd, a->c, ow, a->f), ph = oh / 2, pw = ow / 2;                     \
    float *pad = a->pad;                                                                             \
    float *dys = pad + ((a->kh - 1) * prow + a->kw - 1) * a->f;                                      \
    for (long s = 0; s < a->n; s++) {                                                                \
        for (long oy = 0; oy < oh; oy++)                                                             \
            unpool_row(a->dy, a->py, a->parg, s, oy, ph, pw, ow, a->f, 1, dys + oy * prow * a->f);      \
        const float *xs = a->x + s * a->h * a->wd * a->c;                                            \
        if (a->f % 32 == 0) { enum { NV_ = 2 }; DW_SAMPLE(P2, 2, xs, dys, prow * a->f) }             \
        else { enum { NV_ = 1 }; DW_SAMPLE(P1, 1, xs, dys, prow * a->f) }                            \
        if (a->dx) {                                                                                 \
            float *dxs = a->dx + s * a->h * a->wd * a->c;                                            \
            if (a->c % 32 == 0) { enum { NV_ = 2 }; DX_SAMPLE(Q2, 2, dxs) }                          \
            else { enum { NV_ = 1 }; DX_SAMPLE(Q1, 1, dxs) }                                         \
        }                                                                                            \
    }

/* Block widths for 1 and 2 vectors of 16 floats. AVX-512 has 32 vector registers: up to 24 accumulators
 * (measured: 12 pixels × 2 vectors beat 6 × 4 for 64 filters — half the weights per block, twice the reuse).
 * AVX2 has 16 registers of half the width, so a 16-float vector takes two: 6 accumulators. */
__attribute__((target("avx512f"))) static int conv_fwd_avx512(const conv_args *a) { FWD_BODY(12, 12) return 1; }
__attribute__((target("avx2,fma"))) static int conv_fwd_avx2(const conv_args *a) { FWD_BODY(6, 3) return 1; }
__attribute__((target("avx512f"))) static int conv_fwd_pool_avx512(const conv_args *a) { FWD_POOL_BODY(12, 12) return 1; }
__attribute__((target("avx2,fma"))) static int conv_fwd_pool_avx2(const conv_args *a) { FWD_POOL_BODY(6, 3) return 1; }
__attribute__((target("avx512f"))) static int conv_dw_avx512(const conv_args *a) { DW_BODY(12, 12) return 1; }
__attribute__((target("avx2,fma"))) static int conv_dw_avx2(const conv_args *a) { DW_BODY(6, 3) return 1; }
__attribute__((target("avx512f"))) static int conv_bwd_pool_avx512(const conv_args *a) {
    BWD_POOL_BODY(12, 12, 12, 12) return 1;
}
__attribute__((target("avx2,fma"))) static int conv_bwd_pool_avx2(const conv_args *a) { BWD_POOL_BODY(6, 3, 6, 3) return 1; }
__attribute__((target("avx512f"))) static int conv_dx_avx512(const conv_args *a) { DX_BODY(12, 12) return 1; }
__attribute__((target("avx2,fma"))) static int conv_dx_avx2(const conv_args *a) { DX_BODY(6, 3) return 1; }

/* `SEQUENT_CONV2D_LEVEL=1` caps the level as `sequent_conv2d_limit_level` does, for benchmarks of the AVX2 build
 * on an AVX-512 machine. */
static int level(void) {
    if (getenv("SEQUENT_NO_DIRECT_CONV")) return 0;
    const char *cap = getenv("SEQUENT_CONV2D_LEVEL");
    int limit = cap ? atoi(cap) : 2;
    if (__builtin_cpu_supports("avx512f") && limit >= 2) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && limit >= 1) return 1;
    return 0;
}

/* Atomic: tests lower it while other threads run kernels. */
static _Atomic int cached_level = -1;

static int cpu_level(void) {
    if (cached_level < 0) cached_level = level();
    return cached_level;
}

int sequent_conv2d_direct_available(void) { return cpu_level() > 0; }

int sequent_kernel_level(void) { return cpu_level(); }

int sequent_conv2d_limit_level(int limit) {
    int detected = level();
    cached_level = limit < detected ? limit : detected;
    return cached_level;
}

int sequent_conv2d_forward(const float *x, const float *w, const float *bias, float *y, long n, long h, long wd,
                           long c, long kh, long kw, long f, int relu) {
    return sequent_conv2d_forward_rows(x, w, bias, y, n, h, wd, c, kh, kw, f, relu, 0, n * (h - kh + 1));
}

int sequent_conv2d_forward_rows(const float *x, const float *w, const float *bias, float *y, long n, long h,
                                long wd, long c, long kh, long kw, long f, int relu, long row0, long row1) {
    if (f % 16 != 0 || kh > h || kw > wd || row0 < 0 || row1 > n * (h - kh + 1) || row0 > row1) return 0;
    conv_args a = {.x = x, .w = w, .bias = bias, .y = y, .n = n, .h = h, .wd = wd, .c = c, .kh = kh, .kw = kw,
                   .f = f, .r0 = row0, .r1 = row1, .relu = relu};
    switch (cpu_level()) {
    case 2: return conv_fwd_avx512(&a);
    case 1: return conv_fwd_avx2(&a);
    default: return 0;
    }
}

long sequent_conv2d_forward_maxpool2_scratch(long w, long kw, long f) { return 2 * ((w - kw + 1) / 2 * 2) * f; }

int sequent_conv2d_forward_maxpool2(const float *x, const float *w, const float *bias, float *y, unsigned char *arg,
                                    float *scratch, long n, long h, long wd, long c, long kh, long kw, long f,
                                    int relu) {
    return sequent_conv2d_forward_maxpool2_rows(x, w, bias, y, arg, scratch, n, h, wd, c, kh, kw, f, relu, 0,
                                                n * ((h - kh + 1) / 2));
}

int sequent_conv2d_forward_maxpool2_rows(const float *x, const float *w, const float *bias, float *y,
                                         unsigned char *arg, float *scratch, long n, long h, long wd, long c,
                                         long kh, long kw, long f, int relu, long row0, long row1) {
    if (f % 16 != 0 || kh + 1 > h || kw + 1 > wd || row0 < 0 || row1 > n * ((h - kh + 1) / 2) || row0 > row1)
        return 0;
    conv_args a = {.x = x, .w = w, .bias = bias, .y = y, .arg = arg, .pad = scratch, .n = n, .h = h, .wd = wd,
                   .c = c, .kh = kh, .kw = kw, .f = f, .r0 = row0, .r1 = row1, .relu = relu};
    switch (cpu_level()) {
    case 2: return conv_fwd_pool_avx512(&a);
    case 1: return conv_fwd_pool_avx2(&a);
    default: return 0;
    }
}

int sequent_conv2d_backward_filter(const float *x, const float *dy, float *dw, float *db, long n, long h, long wd,
                                   long c, long kh, long kw, long f) {
    if (f % 16 != 0 || kh > h || kw > wd) return 0;
    conv_args a = {.x = x, .dy = dy, .dw = dw, .db = db, .n = n, .h = h, .wd = wd, .c = c, .kh = kh, .kw = kw,
                   .f = f};
    switch (cpu_level()) {
    case 2: return conv_dw_avx512(&a);
    case 1: return conv_dw_avx2(&a);
    default: return 0;
    }
}

/* Zeroes the border of a padded gradient image (`oh` × `ow` pixels of `f` values in the middle of
 * (oh + 2(kh − 1)) × (ow + 2(kw − 1))): the middle is overwritten for every sample. */
static void zero_border(float *pad, long oh, long ow, long kh, long kw, long f) {
    long prow = ow + 2 * (kw - 1);
    size_t edge = sizeof(float) * (size_t)((kw - 1) * f);
    memset(pad, 0, sizeof(float) * (size_t)((kh - 1) * prow * f));
    memset(pad + (kh - 1 + oh) * prow * f, 0, sizeof(float) * (size_t)((kh - 1) * prow * f));
    for (long r = kh - 1; r < kh - 1 + oh; r++) {
        memset(pad + r * prow * f, 0, edge);
        memset(pad + (r * prow + kw - 1 + ow) * f, 0, edge);
    }
}

/* [KH][KW][C][F] → [KH][KW][F][C], so the input gradient's channels are contiguous: a few thousand floats. */
static void transpose_kernel(const float *w, float *wt, long kh, long kw, long c, long f) {
    for (long k = 0; k < kh * kw; k++)
        for (long ci = 0; ci < c; ci++)
            for (long fi = 0; fi < f; fi++) wt[(k * f + fi) * c + ci] = w[(k * c + ci) * f + fi];
}

long sequent_conv2d_backward_input_scratch(long h, long w, long c, long kh, long kw, long f) {
    return kh * kw * c * f + (h + kh - 1) * (w + kw - 1) * f;
}

int sequent_conv2d_backward_input(const float *dy, const float *w, float *scratch, float *dx, long n, long h,
                                  long wd, long c, long kh, long kw, long f) {
    if (c % 16 != 0 || kh > h || kw > wd || cpu_level() == 0) return 0;
    float *wt = scratch, *pad = scratch + kh * kw * c * f;
    transpose_kernel(w, wt, kh, kw, c, f);
    /* The border stays zero; each sample's gradient is copied into the middle. */
    zero_border(pad, h - kh + 1, wd - kw + 1, kh, kw, f);
    conv_args a = {.dy = dy, .wt = wt, .pad = pad, .dx = dx, .n = n, .h = h, .wd = wd, .c = c, .kh = kh, .kw = kw,
                   .f = f};
    return cpu_level() == 2 ? conv_dx_avx512(&a) : conv_dx_avx2(&a);
}

int sequent_conv2d_backward_maxpool2(const float *x, const float *w, const float *dy, const float *y,
                                     const unsigned char *arg, float *dw, float *db, float *dx, float *scratch,
                                     long n, long h, long wd, long c, long kh, long kw, long f) {
    if (f % 16 != 0 || kh + 1 > h || kw + 1 > wd || (dx && c % 16 != 0) || cpu_level() == 0) return 0;
    float *wt = scratch, *pad = scratch + kh * kw * c * f;
    if (dx) transpose_kernel(w, wt, kh, kw, c, f);
    zero_border(pad, h - kh + 1, wd - kw + 1, kh, kw, f);
    conv_args a = {.x = x, .dy = dy, .py = y, .parg = arg, .dw = dw, .db = db, .dx = dx, .wt = wt, .pad = pad,
                   .n = n, .h = h, .wd = wd, .c = c, .kh = kh, .kw = kw, .f = f};
    return cpu_level() == 2 ? conv_bwd_pool_avx512(&a) : conv_bwd_pool_avx2(&a);
}

#else

int sequent_conv2d_direct_available(void) { return 0; }
int sequent_kernel_level(void) { return 0; }
int sequent_conv2d_limit_level(int limit) { return 0; }
int sequent_conv2d_forward(const float *x, const float *w, const float *bias, float *y, long n, long h, long wd,
                           long c, long kh, long kw, long f, int relu) { return 0; }
int sequent_conv2d_backward_filter(const float *x, const float *dy, float *dw, float *db, long n, long h, long wd,
                                   long c, long kh, long kw, long f) { return 0; }
long sequent_conv2d_backward_input_scratch(long h, long w, long c, long kh, long kw, long f) { return 0; }
long sequent_conv2d_forward_maxpool2_scratch(long w, long kw, long f) { return 0; }
int sequent_conv2d_forward_maxpool2(const float *x, const float *w, const float *bias, float *y, unsigned char *arg,
                                    float *scratch, long n, long h, long wd, long c, long kh, long kw, long f,
                                    int relu) { return 0; }
int sequent_conv2d_forward_rows(const float *x, const float *w, const float *bias, float *y, long n, long h,
                                long wd, long c, long kh, long kw, long f, int relu, long row0, long row1) { return 0; }
int sequent_conv2d_forward_maxpool2_rows(const float *x, const float *w, const float *bias, float *y,
                                         unsigned char *arg, float *scratch, long n, long h, long wd, long c,
                                         long kh, long kw, long f, int relu, long row0, long row1) { return 0; }
int sequent_conv2d_backward_input(const float *dy, const float *w, float *scratch, float *dx, long n, long h,
                                  long wd, long c, long kh, long kw, long f) { return 0; }
int sequent_conv2d_backward_maxpool2(const float *x, const float *w, const float *dy, const float *y,
                                     const unsigned char *arg, float *dw, float *db, float *dx, float *scratch,
                                     long n, long h, long wd, long c, long kh, long kw, long f) { return 0; }

#endif
