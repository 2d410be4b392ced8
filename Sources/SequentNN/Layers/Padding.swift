/// Keras/TensorFlow padding: `valid` (no padding) or `same` (output = ceil(input / stride), the extra
/// padding going to the bottom/right when it is odd).
public enum Padding: String, Sendable {
    case valid, same

    public init(name: String, field: String = "padding") throws {
        guard let p = Padding(rawValue: name.lowercased()) else {
            throw ConfigError(field: field, detail: "must be \"valid\" or \"same\", got \"\(name)\"")
        }
        self = p
    }

    /// Output length along one axis (may be ≤ 0 when the window does not fit, which callers reject).
    func outputSize(input: Int, window: Int, stride: Int) -> Int {
        switch self {
        case .valid: return input >= window ? (input - window) / stride + 1 : 0
        case .same: return (input + stride - 1) / stride
        }
    }

    /// Padding added before the first element along one axis.
    func padBefore(input: Int, window: Int, stride: Int) -> Int {
        guard self == .same else { return 0 }
        let out = outputSize(input: input, window: window, stride: stride)
        return max((out - 1) * stride + window - input, 0) / 2
    }
}

/// Geometry shared by Conv2D and MaxPooling2D: input H×W×C, window KH×KW, strides, padding → OH×OW.
struct WindowGeometry: Sendable {
    var h = 0, w = 0, c = 0
    var kh = 0, kw = 0, sh = 1, sw = 1
    var padTop = 0, padLeft = 0
    var oh = 0, ow = 0

    init() {}

    /// Validates and computes the output size; `what` names the window field in errors.
    init(input: [Int], window: [Int], strides: [Int], padding: Padding, what: String) throws {
        guard input.count == 3 else {
            throw ConfigError(field: "", detail: "needs a 3-D input (height, width, channels), got \(input)")
        }
        (h, w, c) = (input[0], input[1], input[2])
        (kh, kw) = (window[0], window[1])
        (sh, sw) = (strides[0], strides[1])
        oh = padding.outputSize(input: h, window: kh, stride: sh)
        ow = padding.outputSize(input: w, window: kw, stride: sw)
        if padding == .valid && (kh > h || kw > w) {
            throw ConfigError(field: what, detail: "(\(kh), \(kw)) is larger than the input (\(h), \(w)) with padding \"valid\"")
        }
        guard oh > 0, ow > 0 else {
            throw ConfigError(field: what, detail: "(\(kh), \(kw)) gives an output of \(oh)×\(ow) on an input of \(h)×\(w)")
        }
        padTop = padding.padBefore(input: h, window: kh, stride: sh)
        padLeft = padding.padBefore(input: w, window: kw, stride: sw)
    }

    static func validatePositive(_ values: [Int], field: String) throws {
        guard values.allSatisfy({ $0 > 0 }) else {
            throw ConfigError(field: field, detail: "must be positive, got \(values)")
        }
    }
}
