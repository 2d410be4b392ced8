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
