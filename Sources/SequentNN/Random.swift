/// The engine's seeded randomness: weight initialisation, shuffling and dropout.
///
/// Everything is derived from the user's seed with SplitMix64, so a run is reproducible, and dropout masks are
/// a pure function of (seed, step, element): they do not depend on how a batch is split across threads.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SeededGenerator.mix(state)
    }

    /// SplitMix64's finaliser: a good 64-bit hash.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform float in [0, 1) from a hash of the arguments.
    @inline(__always)
    static func uniform(_ a: UInt64, _ b: UInt64) -> Float {
        Float(mix(a ^ mix(b)) >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniform float in [lo, hi).
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func normal() -> Float {
        let u1 = max(Float(next() >> 40) * (1.0 / 16_777_216.0), 1e-7)
        let u2 = Float(next() >> 40) * (1.0 / 16_777_216.0)
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Float.pi * u2)
    }

    /// A generator for a derived stream, e.g. the shuffle of epoch `e`: independent of how much randomness
    /// earlier epochs used, so a resumed run shuffles exactly as an uninterrupted one.
    public static func derived(seed: UInt64, stream: UInt64, index: UInt64) -> SeededGenerator {
        SeededGenerator(seed: mix(seed ^ mix(stream &+ 0x5EED) ^ mix(index &* 0x2545_F491_4F6C_DD1D)))
    }
}

@inline(__always) private func _log(_ x: Float) -> Float { Float(log(Double(x))) }
@inline(__always) private func _cos(_ x: Float) -> Float { Float(cos(Double(x))) }

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
