#pragma once

/// Makes the calling thread flush denormal floats to zero (x86 MXCSR FTZ + DAZ; a no-op elsewhere).
///
/// Training drives some values (Adam's second moments of rarely-active weights, far tails of activations)
/// into the denormal range, where every arithmetic instruction takes a microcode assist costing ~100 cycles;
/// left alone this slowed a Fashion-MNIST epoch by half as training went on. TensorFlow sets the same flags.
void sequent_enable_flush_to_zero(void);

/// Nonzero when the calling thread flushes denormals to zero.
int sequent_flush_to_zero_enabled(void);
