/// Weight initialisers, with Keras 3's names, defaults and formulas.
///
/// The variance-scaling family (glorot/he/lecun) draws with standard deviation `sqrt(scale / n)` where `n` is
/// fan-in (he, lecun: scale 2 resp. 1), or the mean of fan-in and fan-out (glorot, scale 1). The uniform forms
/// draw from ±sqrt(3 · scale / n); the normal forms from a normal truncated at two standard deviations, its
/// standard deviation divided by 0.87962566103423978 (the std of a unit normal truncated at ±2) so the *drawn*
/// values have the intended variance, as Keras does. Everything draws from the model's seeded generator, so a
/// job's weights follow from its seed (a Keras `seed` in an initializer's config, read by `ModelConfig.initializer`,
/// gives that weight a stream of its own).
public enum Initializer: Sendable, Equatable {
    case glorotUniform, glorotNormal, heUniform, heNormal, lecunUniform, lecunNormal, zeros, ones
    case constant(Float)
    case randomNormal(mean: Float, stddev: Float)
    case randomUniform(minval: Float, maxval: Float)
    case truncatedNormal(mean: Float, stddev: Float)

    /// Every name `init(name:field:)` reads, in the order errors list them.
    public static let names = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                               "lecun_normal", "zeros", "ones", "constant", "random_normal", "random_uniform",
                               "truncated_normal"]

    /// The Keras name with Keras's default arguments (RandomNormal/TruncatedNormal: mean 0, stddev 0.05;
    /// RandomUniform: ±0.05; Constant: 0).
    public init(name: String, field: String) throws {
        switch name {
        case "glorot_uniform": self = .glorotUniform
        case "glorot_normal": self = .glorotNormal
        case "he_uniform": self = .heUniform
        case "he_normal": self = .heNormal
        case "lecun_uniform": self = .lecunUniform
        case "lecun_normal": self = .lecunNormal
        case "zeros": self = .zeros
        case "ones": self = .ones
        case "constant": self = .constant(0)
        case "random_normal": self = .randomNormal(mean: 0, stddev: 0.05)
        case "random_uniform": self = .randomUniform(minval: -0.05, maxval: 0.05)
        case "truncated_normal": self = .truncatedNormal(mean: 0, stddev: 0.05)
        default:
            throw ConfigError(field: field, detail: "must be one of \(Initializer.names.joined(separator: ", ")), got \"\(name)\"")
        }
    }

    /// Reads a name (`"he_normal"`) or Keras's object form (`{"class_name": "RandomNormal", "config": {"mean":
    /// 0.0, "stddev": 0.05, "seed": null}}`); unknown config keys are refused.
    public init(json value: JSONValue, field: String) throws {
        if let s = value.stringValue { try self.init(name: s, field: field); return }
        guard let cls = value["class_name"]?.stringValue else {
            throw ConfigError(field: field, detail: "must be a name or {\"class_name\": …, \"config\": {…}}, got \(value.brief)")
        }
        try self.init(name: Sequential.snakeCase(cls), field: field + ".class_name")
        var r = try ConfigReader(value["config"] ?? .object([:]), path: field + ".config",
                                 ignorable: ["seed"])
        do {
            func number(_ key: String, _ def: Float) throws -> Float { Float(try r.double(key, default: Double(def))) }
            switch self {
            case .constant(let v): self = .constant(try number("value", v))
            case .randomNormal(let m, let s): self = .randomNormal(mean: try number("mean", m), stddev: try number("stddev", s))
            case .truncatedNormal(let m, let s): self = .truncatedNormal(mean: try number("mean", m), stddev: try number("stddev", s))
            case .randomUniform(let lo, let hi):
                self = .randomUniform(minval: try number("minval", lo), maxval: try number("maxval", hi))
            default: break
            }
            // Keras 3.15's variance-scaling initializers write the axes their fans come from; null is the
            // default computation (`fans` below), any other choice Sequent does not make.
            for key in ["input_axes", "output_axes"] {
                if let v = r.value(key) {
                    throw ConfigError(field: key, detail: "must be null (the default fans), got \(v.brief)")
                }
            }
            try r.finish()
        } catch let e as ConfigError {
            throw e.prefixed(by: field + ".config")
        }
        switch self {
        case .randomNormal(_, let s), .truncatedNormal(_, let s):
            guard s >= 0 else { throw ConfigError(field: field + ".config.stddev", detail: "must be ≥ 0, got \(s)") }
        case .randomUniform(let lo, let hi):
            guard lo <= hi else {
                throw ConfigError(field: field + ".config.maxval", detail: "must be ≥ minval \(lo), got \(hi)")
            }
        default: break
        }
    }

    /// The Keras name ("glorot_uniform", "random_normal", …).
    public var rawValue: String {
        switch self {
        case .glorotUniform: "glorot_uniform"
        case .glorotNormal: "glorot_normal"
        case .heUniform: "he_uniform"
        case .heNormal: "he_normal"
        case .lecunUniform: "lecun_uniform"
        case .lecunNormal: "lecun_normal"
        case .zeros: "zeros"
        case .ones: "ones"
        case .constant: "constant"
        case .randomNormal: "random_normal"
        case .randomUniform: "random_uniform"
        case .truncatedNormal: "truncated_normal"
        }
    }

    /// How configs save it: the name when Keras's defaults apply, else Keras's object form (which
    /// `init(json:field:)` reads back).
    public var configValue: JSONValue {
        let args: [String: JSONValue]
        switch self {
        case .constant(let v): args = ["value": .number(Double(v))]
        case .randomNormal(let m, let s): args = ["mean": .number(Double(m)), "stddev": .number(Double(s))]
        case .truncatedNormal(let m, let s): args = ["mean": .number(Double(m)), "stddev": .number(Double(s))]
        case .randomUniform(let lo, let hi): args = ["minval": .number(Double(lo)), "maxval": .number(Double(hi))]
        default: return .string(rawValue)
        }
        if (try? Initializer(name: rawValue, field: "")) == self { return .string(rawValue) }
        let cls = rawValue.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return .object(["class_name": .string(cls), "config": .object(args)])
    }

    /// Keras's fans: a vector has fan-in = fan-out = its length; Dense `(in, out)`; a convolution kernel
    /// `(kh, kw, in, out)` multiplies both by the receptive field kh·kw.
    static func fans(_ shape: [Int]) -> (fanIn: Float, fanOut: Float) {
        switch shape.count {
        case 0: return (1, 1)
        case 1: return (Float(shape[0]), Float(shape[0]))
        default:
            let receptive = shape.dropLast(2).reduce(1, *)
            return (Float(shape[shape.count - 2] * receptive), Float(shape[shape.count - 1] * receptive))
        }
    }

    /// The standard deviation of a unit normal truncated at ±2: Keras divides by it so truncation keeps
    /// the variance the scaling asks for.
    static let truncatedUnitStddev: Float = 0.87962566103423978

    /// Fills `values` for a weight of `shape`.
    func fill(_ values: UnsafeMutablePointer<Float>, shape: [Int], rng: inout SeededGenerator) {
        let count = shape.reduce(1, *)
        let (fanIn, fanOut) = Initializer.fans(shape)
        func uniform(_ lo: Float, _ hi: Float) { for i in 0..<count { values[i] = rng.uniform(lo, hi) } }
        /// mean + stddev·z with z a unit normal redrawn until |z| ≤ 2.
        func truncated(_ mean: Float, _ stddev: Float) {
            for i in 0..<count {
                var z = rng.normal()
                while abs(z) > 2 { z = rng.normal() }
                values[i] = mean + stddev * z
            }
        }
        switch self {
        case .zeros: values.update(repeating: 0, count: count)
        case .ones: values.update(repeating: 1, count: count)
        case .constant(let v): values.update(repeating: v, count: count)
        case .glorotUniform: let l = (6 / (fanIn + fanOut)).squareRoot(); uniform(-l, l)
        case .heUniform: let l = (6 / fanIn).squareRoot(); uniform(-l, l)
        case .lecunUniform: let l = (3 / fanIn).squareRoot(); uniform(-l, l)
        case .glorotNormal: truncated(0, (2 / (fanIn + fanOut)).squareRoot() / Initializer.truncatedUnitStddev)
        case .heNormal: truncated(0, (2 / fanIn).squareRoot() / Initializer.truncatedUnitStddev)
        case .lecunNormal: truncated(0, (1 / fanIn).squareRoot() / Initializer.truncatedUnitStddev)
        case .randomNormal(let m, let s): for i in 0..<count { values[i] = m + s * rng.normal() }
        case .randomUniform(let lo, let hi): uniform(lo, hi)
        case .truncatedNormal(let m, let s): truncated(m, s)
        }
    }
}
