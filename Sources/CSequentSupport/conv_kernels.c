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

#if defined(__x86_64__)

#define AI static inline __attribute__((always_inline))

/* Largest block dimensions. The accumulator arrays are declared at these fixed sizes rather than [PX][NV]: with
 * the sizes as (inlined, constant) parameters they are variable-length arrays, which clang kept on the stack —
 * re-aligning it and bouncing every loaded vector through memory on each iteration. */
#define MAX_PX 12
#define MAX_NV 2

typedef float v16 __attribute__((vector_size(64)));
/* The same vector with 4-byte alignment: dereferencing it is an unaligned load or store. (Macros rather than
 * helper functions, because passing 64-byte vectors by value outside AVX-512 code changes the ABI.) */
typedef float v16u __attribute__((vector_size(64), aligned(4)));
#define load16(p) (*(const v16u *)(p))
#define store16(p, v) (*(v16u *)(p) = (v))
#define zero16() ((v16){0})

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
    long n, h, wd, c, kh, kw, f;
    int relu;
} conv_args;

#define FWD_ROWS(PXM, NV)                                                                            \
    for (long s = 0; s < a->n; s++)                                                                  \
        for (long oy = 0; oy < oh; oy++) {                                                           \
            const float *xr = a->x + ((s * a->h + oy) * a->wd) * a->c;                               \
            float *yr = a->y + ((s * oh + oy) * ow) * a->f;                                          \
            for (long f0 = 0; f0 < a->f; f0 += 16 * NV) {                                            \
                const float *wf = a->w + f0, *bf = a->bias ? a->bias + f0 : 0;                       \
                long ox = 0;                                                                         \
                for (; ox + PXM <= ow; ox += PXM)                                                    \
                    fwd_block(PXM, NV, xr + ox * a->c, a->c, a->wd * a->c, a->kh, run, wf, a->f, bf, \
                              a->relu, yr + ox * a->f + f0);                                         \
                REMAINDER_SWITCH(ow - ox, PXM, FWD_REM)                                              \
            }                                                                                        \
        }
#define FWD_REM(k) fwd_block(k, NV_, xr + ox * a->c, a->c, a->wd * a->c, a->kh, run, wf, a->f, bf, a->relu, \
                             yr + ox * a->f + f0)

#define FWD_BODY(P1, P2)                                                                         \
    long oh = a->h - a->kh + 1, ow = a->wd - a->kw + 1, run = a->kw * a->c;                          \
    if (a->f % 32 == 0) { enum { NV_ = 2 }; FWD_ROWS(P2, 2) }                                        \
    else { enum { NV_ = 1 }; FWD_ROWS(P1, 1) }

/* ---- gradient of the kernel ----------------------------------------------------------------------------------- */

/* dw[r, f0 .. f0+16·NV) += Σ_(oy, ox) x[(oy, ox)·C + o[r]] · dy[oy, ox, …] for the R kernel rows r0 … r0+R−1
 * (a row is one (ky, kx, c); `run` = KW·C of them per ky, contiguous in the image) over `rows` output rows: the
 * accumulators stay in registers for the whole band. */
AI void dw_block(const int R, const int NV, const float *x, long xrow, long r0, long run, long c, const float *dy,
                 long rows, long ow, long f, float *dw) {
    v16 acc[MAX_PX][MAX_NV];
    long o[MAX_PX];
    for (int r = 0; r < R; r++) {
        o[r] = (r0 + r) / run * xrow + (r0 + r) % run;
        for (int v = 0; v < NV; v++) acc[r][v] = load16(dw + r * f + 16 * v);
    }
    for (long oy = 0; oy < rows; oy++) {
        const float *xr = x + oy * xrow, *dyr = dy + oy * ow * f;
        for (long ox = 0; ox < ow; ox++) {
            v16 d[MAX_NV];
            for (int v = 0; v < NV; v++) d[v] = load16(dyr + ox * f + 16 * v);
            const float *xq = xr + ox * c;
            for (int r = 0; r < R; r++) {
                float s = xq[o[r]];
                for (int v = 0; v < NV; v++) acc[r][v] += d[v] * s;
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) store16(dw + r * f + 16 * v, acc[r][v]);
}

/* Output rows per band: the band's input rows and gradient rows together fit in ~32 KB of L1, so every block of
 * kernel rows re-reads them from L1. */
static long dw_band(long kh, long wd, long c, long ow, long f) {
    long per = wd * c + ow * f, band = (8192 - (kh - 1) * wd * c) / (per > 0 ? per : 1);
    return band < 1 ? 1 : band;
}

#define DW_ROWS(RM, NV)                                                                              \
    for (long s = 0; s < a->n; s++)                                                                  \
        for (long oy = 0; oy < oh; oy += band) {                                                     \
            long rows = oh - oy < band ? oh - oy : band;                                             \
            const float *xr = a->x + ((s * a->h + oy) * a->wd) * a->c;                               \
            const float *dyr = a->dy + ((s * oh + oy) * ow) * a->f;                                  \
            for (long f0 = 0; f0 < a->f; f0 += 16 * NV) {                                            \
                long r0 = 0;                                                                         \
                for (; r0 + RM <= patch; r0 += RM)                                                   \
                    dw_block(RM, NV, xr, a->wd * a->c, r0, run, a->c, dyr + f0, rows, ow, a->f,      \
                             a->dw + r0 * a->f + f0);                                                \
                REMAINDER_SWITCH(patch - r0, RM, DW_REM)                                             \
            }                                                                                        \
            if (a->db) bias_rows(dyr, rows * ow, a->f, a->db);                                       \
        }
#define DW_REM(k) dw_block(k, NV_, xr, a->wd * a->c, r0, run, a->c, dyr + f0, rows, ow, a->f, \
                           a->dw + r0 * a->f + f0)

#define DW_BODY(P1, P2)                                                                          \
    long oh = a->h - a->kh + 1, ow = a->wd - a->kw + 1, run = a->kw * a->c, patch = a->kh * run;     \
    long band = dw_band(a->kh, a->wd, a->c, ow, a->f);                                               \
    if (a->f % 32 == 0) { enum { NV_ = 2 }; DW_ROWS(P2, 2) }                                         \
    else { enum { NV_ = 1 }; DW_ROWS(P1, 1) }

/* db += Σ over `ow` gradient pixels (the bias gradient, while they are in cache). */
AI void bias_rows(const float *dy, long ow, long f, float *db) {
    for (long f0 = 0; f0 < f; f0 += 16) {
        v16 acc = load16(db + f0);
        for (long ox = 0; ox < ow; ox++) acc += load16(dy + ox * f + f0);
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

#define DX_ROWS(PXM, NV)                                                                             \
    for (long s = 0; s < a->n; s++) {                                                                \
        const float *dys = a->dy + s * oh * ow * a->f;                                               \
        for (long oy = 0; oy < oh; oy++)                                                             \
            memcpy(pad + ((oy + a->kh - 1) * prow + a->kw - 1) * a->f, dys + oy * ow * a->f,        \
                   sizeof(float) * (size_t)(ow * a->f));                                             \
        for (long iy = 0; iy < a->h; iy++) {                                                         \
            const float *pr = pad + iy * prow * a->f;                                                \
            float *dxr = a->dx + ((s * a->h + iy) * a->wd) * a->c;                                   \
            for (long c0 = 0; c0 < a->c; c0 += 16 * NV) {                                            \
                const float *wc = a->wt + c0;                                                        \
                long ix = 0;                                                                         \
                for (; ix + PXM <= a->wd; ix += PXM)                                                 \
                    dx_block(PXM, NV, pr + ix * a->f, prow, a->f, wc, a->c, a->kh, a->kw,            \
                             dxr + ix * a->c + c0);                                                  \
                REMAINDER_SWITCH(a->wd - ix, PXM, DX_REM)                                            \
            }                                                                                        \
        }                                                                                            \
    }
#define DX_REM(k) dx_block(k, NV_, pr + ix * a->f, prow, a->f, wc, a->c, a->kh, a->kw, dxr + ix * a->c + c0)

#define DX_BODY(P1, P2)                                                                          \
    long oh = a->h - a->kh + 1, ow = a->wd - a->kw + 1, prow = a->wd + a->kw - 1;                    \
    float *pad = a->pad;                                                                             \
    if (a->c % 32 == 0) { enum { NV_ = 2 }; DX_ROWS(P2, 2) }                                         \
    else { enum { NV_ = 1 }; DX_ROWS(P1, 1) }

/* Block widths for 1 and 2 vectors of 16 floats. AVX-512 has 32 vector registers: up to 24 accumulators
 * (measured: 12 pixels × 2 vectors beat 6 × 4 for 64 filters — half the weights per block, twice the reuse).
 * AVX2 has 16 registers of half the width, so a 16-float vector takes two: 6 accumulators. */
__attribute__((target("avx512f"))) static int conv_fwd_avx512(const conv_args *a) { FWD_BODY(12, 12) return 1; }
__attribute__((target("avx2,fma"))) static int conv_fwd_avx2(const conv_args *a) { FWD_BODY(6, 3) return 1; }
__attribute__((target("avx512f"))) static int conv_dw_avx512(const conv_args *a) { DW_BODY(11, 11) return 1; }
__attribute__((target("avx2,fma"))) static int conv_dw_avx2(const conv_args *a) { DW_BODY(6, 3) return 1; }
__attribute__((target("avx512f"))) static int conv_dx_avx512(const conv_args *a) { DX_BODY(12, 12) return 1; }
__attribute__((target("avx2,fma"))) static int conv_dx_avx2(const conv_args *a) { DX_BODY(6, 3) return 1; }

static int level(void) {
    if (getenv("SEQUENT_NO_DIRECT_CONV")) return 0;
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

/* Atomic: tests lower it while other threads run kernels. */
static _Atomic int cached_level = -1;

static int cpu_level(void) {
    if (cached_level < 0) cached_level = level();
    return cached_level;
}

int sequent_conv2d_direct_available(void) { return cpu_level() > 0; }

int sequent_conv2d_limit_level(int limit) {
    int detected = level();
    cached_level = limit < detected ? limit : detected;
    return cached_level;
}

int sequent_conv2d_forward(const float *x, const float *w, const float *bias, float *y, long n, long h, long wd,
                           long c, long kh, long kw, long f, int relu) {
    if (f % 16 != 0 || kh > h || kw > wd) return 0;
    conv_args a = {.x = x, .w = w, .bias = bias, .y = y, .n = n, .h = h, .wd = wd, .c = c, .kh = kh, .kw = kw,
                   .f = f, .relu = relu};
    switch (cpu_level()) {
    case 2: return conv_fwd_avx512(&a);
    case 1: return conv_fwd_avx2(&a);
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

long sequent_conv2d_backward_input_scratch(long h, long w, long c, long kh, long kw, long f) {
    return kh * kw * c * f + (h + kh - 1) * (w + kw - 1) * f;
}

int sequent_conv2d_backward_input(const float *dy, const float *w, float *scratch, float *dx, long n, long h,
                                  long wd, long c, long kh, long kw, long f) {
    if (c % 16 != 0 || kh > h || kw > wd || cpu_level() == 0) return 0;
    /* [KH][KW][C][F] → [KH][KW][F][C]: a few thousand floats, once per call. */
    float *wt = scratch, *pad = scratch + kh * kw * c * f;
    for (long k = 0; k < kh * kw; k++)
        for (long ci = 0; ci < c; ci++)
            for (long fi = 0; fi < f; fi++) wt[(k * f + fi) * c + ci] = w[(k * c + ci) * f + fi];
    /* The border stays zero; each sample's gradient is copied into the middle. */
    memset(pad, 0, sizeof(float) * (size_t)((h + kh - 1) * (wd + kw - 1) * f));
    conv_args a = {.dy = dy, .wt = wt, .pad = pad, .dx = dx, .n = n, .h = h, .wd = wd, .c = c, .kh = kh, .kw = kw,
                   .f = f};
    return cpu_level() == 2 ? conv_dx_avx512(&a) : conv_dx_avx2(&a);
}

#else

int sequent_conv2d_direct_available(void) { return 0; }
int sequent_conv2d_limit_level(int limit) { return 0; }
int sequent_conv2d_forward(const float *x, const float *w, const float *bias, float *y, long n, long h, long wd,
                           long c, long kh, long kw, long f, int relu) { return 0; }
int sequent_conv2d_backward_filter(const float *x, const float *dy, float *dw, float *db, long n, long h, long wd,
                                   long c, long kh, long kw, long f) { return 0; }
long sequent_conv2d_backward_input_scratch(long h, long w, long c, long kh, long kw, long f) { return 0; }
int sequent_conv2d_backward_input(const float *dy, const float *w, float *scratch, float *dx, long n, long h,
                                  long wd, long c, long kh, long kw, long f) { return 0; }

#endif
