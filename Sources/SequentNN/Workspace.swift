/// The buffers one thread needs to run the model on up to `capacity` samples: every layer's output, its
/// scratch, two ping-pong gradient buffers and (for training) a private copy of the parameter gradients.
///
/// Allocated once per batch size and reused for every step; the model owns one per worker thread, and a
/// `Predictor` owns its own.
final class Workspace: @unchecked Sendable {
    let capacity: Int
    /// Output buffer of each layer (unused for reshape layers, which alias their input).
    private let outputStorage: [FloatBuffer?]
    private let scratchStorage: [FloatBuffer]
    /// Parameter gradients, laid out like the parameter block.
    let grads: FloatBuffer?
    let gradA: FloatBuffer?, gradB: FloatBuffer?
    /// Per call: what each layer read and wrote (reshape layers make these aliases).
    var inputs: [UnsafeMutablePointer<Float>]
    var outputs: [UnsafeMutablePointer<Float>]
    /// During a backward pass: the gradient of the current layer's output, and the other ping-pong buffer.
    var dy: UnsafeMutablePointer<Float>
    var spare: UnsafeMutablePointer<Float>
    /// Results of the last training/evaluation call on this workspace.
    var lossSum = 0.0
    var metricSums: [Double] = []

    /// `fusion` is the model's plan for each layer, which sets how much scratch some layers need.
    init(layers: [Layer], fusion: [LayerFusion], inputCount: Int, parameterCount: Int, capacity: Int, training: Bool) {
        self.capacity = capacity
        outputStorage = layers.map { $0.isReshape ? nil : FloatBuffer(count: capacity * $0.outputCount) }
        scratchStorage = zip(layers, fusion).map { FloatBuffer(count: $0.scratchCount(batch: capacity, fusion: $1)) }
        let widest = layers.reduce(inputCount) { max($0, $1.outputCount) } * capacity
        grads = training ? FloatBuffer(count: parameterCount) : nil
        gradA = training ? FloatBuffer(count: widest) : nil
        gradB = training ? FloatBuffer(count: widest) : nil
        let placeholder = scratchStorage.first?.pointer ?? UnsafeMutablePointer<Float>.allocate(capacity: 1)
        inputs = Array(repeating: placeholder, count: layers.count)
        dy = gradA?.pointer ?? placeholder
        spare = gradB?.pointer ?? placeholder
        outputs = Array(repeating: placeholder, count: layers.count)
    }

    func output(_ i: Int) -> UnsafeMutablePointer<Float>? { outputStorage[i]?.pointer }
    func scratch(_ i: Int) -> UnsafeMutablePointer<Float> { scratchStorage[i].pointer }
}
