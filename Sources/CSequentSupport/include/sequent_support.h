#pragma once

/// Makes the calling thread flush denormal floats to zero (x86 MXCSR FTZ + DAZ; a no-op elsewhere).
///
/// Training drives some values (Adam's second moments of rarely-active weights, far tails of activations)
/// into the denormal range, where every arithmetic instruction takes a microcode assist costing ~100 cycles;
/// left alone this slowed a Fashion-MNIST epoch by half as training went on. TensorFlow sets the same flags.
void sequent_enable_flush_to_zero(void);

/// Nonzero when the calling thread flushes denormals to zero.
int sequent_flush_to_zero_enabled(void);

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
