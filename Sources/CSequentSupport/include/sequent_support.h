#pragma once

/// Makes the calling thread flush denormal floats to zero (x86 MXCSR FTZ + DAZ; a no-op elsewhere).
///
/// Training drives some values (Adam's second moments of rarely-active weights, far tails of activations)
/// into the denormal range, where every arithmetic instruction takes a microcode assist costing ~100 cycles;
/// left alone this slowed a Fashion-MNIST epoch by half as training went on. TensorFlow sets the same flags.
void sequent_enable_flush_to_zero(void);

/// Nonzero when the calling thread flushes denormals to zero.
int sequent_flush_to_zero_enabled(void);

/// A spin-wait hint (x86 `pause`): a waiting loop yields the core's pipeline to its sibling and saves power.
void sequent_cpu_relax(void);

/// Optimizer updates over `n` parameters (Keras 3's rules; see the Swift optimizers for the formulas).
/// Written in C so that the compiler vectorises the square roots and divisions (`restrict` rules out
/// aliasing); each picks an AVX-512, AVX2 or baseline build at run time.
void sequent_adam_update(float *w, const float *g, float *m, float *v, long n,
                         float alpha, float one_minus_beta1, float one_minus_beta2, float epsilon);
void sequent_rmsprop_update(float *w, const float *g, float *s, float *momentum, float *average, long n,
                            float lr, float rho, float mu, float epsilon);

/// Direct convolution kernels for NHWC input and an HWIO kernel, valid padding, stride 1 (see conv_kernels.c for
/// why they beat im2col + sgemm on layers with few channels). Each returns 0, doing nothing, when the shape or
/// the CPU is not supported: the filters (for `forward`/`backward_filter`) or channels (`backward_input`) must be
/// a multiple of 16, and the CPU must have AVX2+FMA. `SEQUENT_NO_DIRECT_CONV` in the environment disables them.
int sequent_conv2d_direct_available(void);

/// Caps the instruction set the direct kernels use (2 = AVX-512, 1 = AVX2+FMA, 0 = off) at what the CPU has, and
/// returns the level in effect — so tests can run the AVX2 build on an AVX-512 machine.
int sequent_conv2d_limit_level(int limit);

/// The instruction-set level in effect (as `sequent_conv2d_limit_level` returns it; the environment variable
/// `SEQUENT_CONV2D_LEVEL` caps it too, for benchmarks), which the Winograd and Dense kernels follow too.
int sequent_kernel_level(void);

/// One input row of a Dense layer, `y[col0 ..< col1] = x · w[:, col0 ..< col1]` for a row-major `inputs × units`
/// kernel (no bias); only the kernel rows of nonzero inputs are read (see dense_kernels.c). Columns outside the
/// range are not touched, so threads can compute disjoint column ranges of one `y`.
void sequent_dense_forward_row(const float *x, const float *w, long inputs, long units, long col0, long col1,
                               float *y);

/// Winograd F(m×m, 3×3) convolution (m = 2 or 4; see winograd.c) of a 3×3, stride-1 window over `x` zero-padded by
/// `pad` pixels on every side (0: valid), `h + 2·pad − 2` × `w_ + 2·pad − 2` outputs; `w` is the HWIO kernel
/// `[3][3][c][f]`. Forward (`input_gradient` 0): `y = x ⋆ w (+ bias)` over `c` channels to `f` filters, then ReLU
/// when `relu` is nonzero; with `pool`, 2×2 max-pooled as `sequent_conv2d_forward_maxpool2` (`arg` gets the
/// positions). With `input_gradient`, `x` is an output gradient of `f` channels and `y` gets `c`: the full
/// correlation with the flipped kernel when `pad` is 2, i.e. `sequent_conv2d_backward_input`. `y` is
/// overwritten; `scratch` holds `sequent_winograd_scratch(m, c, f)` floats. Returns 0, doing nothing, when the
/// channel counts are not multiples of 16, the output is empty or the CPU lacks AVX2+FMA.
int sequent_winograd_forward(const float *x, const float *w, const float *bias, float *y, unsigned char *arg,
                             float *scratch, long n, long h, long w_, long c, long f, long pad, long m, int relu,
                             int pool, int input_gradient);
long sequent_winograd_scratch(long m, long c, long f);

/// The kernel gradient of a valid 3×3, stride-1 convolution by Winograd F(m×m, 3×3) (m = 2 or 4): `dw += x ⋆ dy`
/// over the batch (HWIO, as `sequent_conv2d_backward_filter`), and `db += Σ dy` when `db` is not null; `dy` is
/// the `(h − 2) × (w_ − 2) × f` output gradient. `scratch` holds `sequent_winograd_scratch(m, c, f)` floats.
/// Returns 0, doing nothing, in the cases `sequent_winograd_forward` does.
int sequent_winograd_backward_filter(const float *x, const float *dy, float *dw, float *db, float *scratch, long n,
                                     long h, long w_, long c, long f, long m);

/// Nonzero when the CPU runs the Winograd kernels and `SEQUENT_NO_WINOGRAD` is not in the environment (which
/// turns them off, for before/after benchmarks in one binary).
int sequent_winograd_available(void);

/// `y = x ⋆ w (+ bias)`, then ReLU when `relu` is nonzero; `y` is overwritten.
int sequent_conv2d_forward(const float *x, const float *w, const float *bias, float *y, long n, long h, long w_,
                           long c, long kh, long kw, long f, int relu);

/// `dw += xᵀ ⋆ dy`, and `db += Σ dy` when `db` is not null.
int sequent_conv2d_backward_filter(const float *x, const float *dy, float *dw, float *db, long n, long h, long w_,
                                   long c, long kh, long kw, long f);

/// `dx = dy ⋆ flip(w)ᵀ` (overwritten); `scratch` holds `sequent_conv2d_backward_input_scratch(…)` floats.
int sequent_conv2d_backward_input(const float *dy, const float *w, float *scratch, float *dx, long n, long h,
                                  long w_, long c, long kh, long kw, long f);

/// Floats of scratch `sequent_conv2d_backward_input` needs: the transposed kernel and one padded gradient image.
long sequent_conv2d_backward_input_scratch(long h, long w_, long c, long kh, long kw, long f);

/// Convolution (as `sequent_conv2d_forward`) followed by 2×2 max-pooling with stride 2 and valid padding, without
/// storing the convolution's output: `y` gets the pooled values and `arg` each one's window position, as
/// `sequent_maxpool2_forward` writes them. `scratch` holds `sequent_conv2d_forward_maxpool2_scratch(w_, kw, f)`
/// floats (two convolution rows). Returns 0, doing nothing, in the same cases as the unpooled forward.
int sequent_conv2d_forward_maxpool2(const float *x, const float *w, const float *bias, float *y, unsigned char *arg,
                                    float *scratch, long n, long h, long w_, long c, long kh, long kw, long f,
                                    int relu);
long sequent_conv2d_forward_maxpool2_scratch(long w_, long kw, long f);

/// Row slices of the two forward passes, so that threads can share one sample (intra-op parallel inference):
/// only output rows `row0 ..< row1` are computed, counted over the whole batch — `n · (h − kh + 1)` rows for
/// `forward`, `n · ((h − kh + 1) / 2)` pooled rows for `forward_maxpool2` (row `r` is sample `r / rows`'s row
/// `r % rows`). Pointers are the whole batch's, as for the full passes. Concurrent slices of one pass need
/// their own `scratch` each. Return 0, doing nothing, where the full passes would, or for a range out of bounds.
int sequent_conv2d_forward_rows(const float *x, const float *w, const float *bias, float *y, long n, long h, long w_,
                                long c, long kh, long kw, long f, int relu, long row0, long row1);
int sequent_conv2d_forward_maxpool2_rows(const float *x, const float *w, const float *bias, float *y,
                                         unsigned char *arg, float *scratch, long n, long h, long w_, long c,
                                         long kh, long kw, long f, int relu, long row0, long row1);

/// The backward pass through a ReLU convolution and the 2×2 max-pool after it (as `sequent_maxpool2_backward`
/// with `relu`, then `sequent_conv2d_backward_filter` and, when `dx` is not null, `sequent_conv2d_backward_input`),
/// without storing the convolution's output gradient for the batch. `dy`, `y` and `arg` are the pool's output
/// gradient, output and positions; `dw` and `db` (if not null) are added to, `dx` is overwritten. `scratch`
/// holds `sequent_conv2d_backward_input_scratch(…)` floats. Returns 0, doing nothing, when the shape or CPU is
/// not supported (filters not a multiple of 16, or channels not one when `dx` is wanted).
int sequent_conv2d_backward_maxpool2(const float *x, const float *w, const float *dy, const float *y,
                                     const unsigned char *arg, float *dw, float *db, float *dx, float *scratch,
                                     long n, long h, long w_, long c, long kh, long kw, long f);

/// 2×2 max-pooling with stride 2, valid padding, NHWC (`h`, `w`: the input's size; a last odd row or column is
/// dropped, as Keras does): `y` gets each window's maximum and `arg` the position (0–3, row-major) of its first
/// maximum.
void sequent_maxpool2_forward(const float *x, float *y, unsigned char *arg, long n, long h, long w, long c);

/// The gradient of `sequent_maxpool2_forward`: writes all of `dx` (`dy` at each window's recorded position, zero
/// elsewhere). With `relu`, a window whose maximum `y` is not positive passes nothing (the ReLU before the pool).
void sequent_maxpool2_backward(const float *dy, const float *y, const unsigned char *arg, float *dx, long n, long h,
                               long w, long c, int relu);
