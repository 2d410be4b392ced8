import Foundation

// Shape legend used throughout the engine:
//   N = samples in a batch, H = height, W = width, C = channels (NHWC, "channels_last", row-major)
//   KH, KW = kernel height and width, F = filters (Conv2D output channels), OH, OW = output height and width
//   Dense: X [M, IN] · W [IN, OUT] -> Y [M, OUT], where M = N × (any leading dimensions)
//   Conv2D kernel HWIO [KH, KW, C, F]; Dense kernel [IN, OUT]: Keras's layouts, no transposes on import/export.

/// A float32 array with a shape: datasets, model inputs and outputs, weights.
///
/// Inside the engine the hot loops work on raw buffers with explicit dimensions; `Tensor` is the value type
/// that crosses the engine's boundary.
public struct Tensor: Sendable, Equatable {
    /// Dimensions, outermost first; for a batch of images `[N, H, W, C]`.
    public var shape: [Int]
    /// The elements, row-major.
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Number of elements.
    public var count: Int { scalars.count }
    /// Elements per item of the first dimension (per sample, for a batch).
    public var itemCount: Int { shape.dropFirst().reduce(1, *) }

    /// Items `range` of the first dimension.
    public func slice(_ range: Range<Int>) -> Tensor {
        let n = itemCount
        return Tensor(shape: [range.count] + shape.dropFirst(),
                      scalars: Array(scalars[(range.lowerBound * n)..<(range.upperBound * n)]))
    }

    /// Items at `indices` of the first dimension, in that order.
    public func gather(_ indices: [Int]) -> Tensor {
        let n = itemCount
        var out = [Float](repeating: 0, count: indices.count * n)
        scalars.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (row, i) in indices.enumerated() {
                    (dst.baseAddress! + row * n).update(from: src.baseAddress! + i * n, count: n)
                }
            }
        }
        return Tensor(shape: [indices.count] + shape.dropFirst(), scalars: out)
    }
}

/// A heap block of floats, zeroed, with a stable address, owned by the engine and reused across batches.
///
/// Hot loops take its pointer directly; nothing is allocated per step. The block comes from `calloc`, whose large
/// blocks are fresh zero pages from the kernel: pages nothing writes cost no memory. That matters for buffers a
/// path never uses — a Conv2D computed together with the max-pool after it leaves its output buffer untouched
/// (2 × 91 MB for the 300×300 recipe's first layer).
final class FloatBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = max(count, 1)
        guard let raw = calloc(self.count, MemoryLayout<Float>.stride) else {
            fatalError("out of memory allocating \(self.count) floats")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: self.count)
    }

    deinit { free(pointer) }

    func zero() { pointer.update(repeating: 0, count: count) }
}
