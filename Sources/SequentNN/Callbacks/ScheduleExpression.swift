import Foundation

/// A learning-rate schedule written as a Python expression of `epoch` (0-based) and `lr` (the current rate):
/// what a Keras user puts in the body of the function passed to `LearningRateScheduler`, e.g.
/// `1e-8 * 10**(epoch/20)` or `lr if epoch < 10 else lr * exp(-0.1)`.
///
/// The grammar is a small subset of Python's, with its precedence (`**` right-associative and binding tighter
/// than unary minus, so `-2**2` is -4; chained comparisons; `and`/`or` returning an operand; `a if c else b`):
/// numbers, `+ - * / // % **`, comparisons, `and or not`, the functions exp log sqrt pow abs min max floor ceil
/// cos sin tanh and the constants pi and e, optionally spelt `math.`, `np.`, `numpy.`, `tf.math.`, `ops.` or
/// `keras.ops.` as pasted Python has them. Nothing else: no other names, no attribute access, no strings.
///
/// It is parsed here rather than by a library because the input is hostile by default (it comes from any HTTP
/// client) and the language needed is tiny: a recursive-descent parser over an allow-list cannot reach
/// anything but arithmetic, and its length and nesting limits bound the work and the stack it can use.
public struct ScheduleExpression: Sendable, CustomStringConvertible {
    /// Longest accepted source, in characters.
    public static let maxLength = 1000
    /// Deepest accepted nesting (parentheses, call arguments, unary operators, `**` right-hand sides, `not`,
    /// `else` branches), so that no input can exhaust the stack while parsing or evaluating.
    public static let maxDepth = 64

    public let source: String
    let root: Node

    /// A syntax error: `position` is 1-based, in characters, as Python reports columns.
    public struct SyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
        public var position: Int
        public var message: String
        public var description: String { "at position \(position): \(message)" }
    }

    /// Why an evaluation has no value (Python would raise): division by zero, a math domain error.
    public struct EvaluationError: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public init(_ source: String) throws(SyntaxError) {
        self.source = source
        var parser = try ScheduleParser(source)
        root = try parser.parseAll()
    }

    public var description: String { source }

    /// The schedule's value for `epoch` and the current rate `lr`.
    public func evaluate(epoch: Int, lr: Double) throws(EvaluationError) -> Double {
        try root.evaluate(epoch: Double(epoch), lr: lr)
    }
}

extension ScheduleExpression {
    enum Function: String, CaseIterable, Sendable {
        case exp, log, sqrt, pow, abs, min, max, floor, ceil, cos, sin, tanh

        /// Allowed argument counts (Python's: `math.log(x, base)`, `min`/`max` of two or more).
        var arity: ClosedRange<Int> {
            switch self {
            case .log: return 1...2
            case .pow: return 2...2
            case .min, .max: return 2...Int.max
            default: return 1...1
            }
        }
    }

    enum BinaryOperator: String, Sendable {
        case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", remainder = "%", power = "**"
    }

    enum Comparison: String, Sendable {
        case less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">=", equal = "==", notEqual = "!="

        func holds(_ a: Double, _ b: Double) -> Bool {
            switch self {
            case .less: return a < b
            case .lessEqual: return a <= b
            case .greater: return a > b
            case .greaterEqual: return a >= b
            case .equal: return a == b
            case .notEqual: return a != b
            }
        }
    }

    indirect enum Node: Sendable {
        case number(Double)
        case epoch, lr
        case negate(Node), not(Node)
        case binary(BinaryOperator, Node, Node)
        /// `a < b <= c`: each comparison between neighbours, all must hold (Python's chaining).
        case compare(Node, [(Comparison, Node)])
        case and(Node, Node), or(Node, Node)
        case conditional(then: Node, condition: Node, otherwise: Node)
        case call(Function, [Node])

        func evaluate(epoch: Double, lr: Double) throws(EvaluationError) -> Double {
            func eval(_ n: Node) throws(EvaluationError) -> Double { try n.evaluate(epoch: epoch, lr: lr) }
            switch self {
            case .number(let v): return v
            case .epoch: return epoch
            case .lr: return lr
            case .negate(let a): return -(try eval(a))
            // Python's truth: any number but zero is true (NaN included); `not` gives True/False, here 1/0.
            case .not(let a): return try eval(a) != 0 ? 0 : 1
            case .binary(let op, let a, let b): return try Self.apply(op, eval(a), eval(b))
            case .compare(let first, let rest):
                var left = try eval(first)
                for (op, node) in rest {
                    let right = try eval(node)
                    guard op.holds(left, right) else { return 0 }
                    left = right
                }
                return 1
            case .and(let a, let b):
                let x = try eval(a)
                return x == 0 ? x : try eval(b)
            case .or(let a, let b):
                let x = try eval(a)
                return x != 0 ? x : try eval(b)
            case .conditional(let then, let condition, let otherwise):
                return try eval(condition) != 0 ? eval(then) : eval(otherwise)
            case .call(let f, let args):
                var values: [Double] = []
                for a in args { values.append(try eval(a)) }
                return try Self.apply(f, values)
            }
        }

        static func apply(_ op: BinaryOperator, _ a: Double, _ b: Double) throws(EvaluationError) -> Double {
            switch op {
            case .add: return a + b
            case .subtract: return a - b
            case .multiply: return a * b
            case .divide:
                guard b != 0 else { throw EvaluationError(message: "division by zero (\(a) / 0)") }
                return a / b
            case .floorDivide:
                guard b != 0 else { throw EvaluationError(message: "division by zero (\(a) // 0)") }
                return (a / b).rounded(.down)
            case .remainder:
                guard b != 0 else { throw EvaluationError(message: "modulo by zero (\(a) % 0)") }
                // Python's remainder has the sign of the divisor.
                var r = fmod(a, b)
                if r != 0 && (r < 0) != (b < 0) { r += b }
                return r
            case .power: return try power(a, b)
            }
        }

        static func power(_ a: Double, _ b: Double) throws(EvaluationError) -> Double {
            if a == 0 && b < 0 { throw EvaluationError(message: "0 cannot be raised to a negative power (\(b))") }
            // Python gives a complex number here, which is no learning rate.
            if a < 0 && b.isFinite && b != b.rounded() {
                throw EvaluationError(message: "a negative number (\(a)) raised to a fractional power (\(b)) is not real")
            }
            return Foundation.pow(a, b)
        }

        static func apply(_ f: Function, _ x: [Double]) throws(EvaluationError) -> Double {
            func domain(_ ok: Bool) throws(EvaluationError) {
                guard ok else {
                    let args = x.map { "\($0)" }.joined(separator: ", ")
                    throw EvaluationError(message: "math domain error: \(f.rawValue)(\(args))")
                }
            }
            switch f {
            case .exp: return Foundation.exp(x[0])
            case .log:
                try domain(x[0] > 0 && (x.count == 1 || (x[1] > 0 && x[1] != 1)))
                return x.count == 1 ? Foundation.log(x[0]) : Foundation.log(x[0]) / Foundation.log(x[1])
            case .sqrt:
                try domain(x[0] >= 0)
                return x[0].squareRoot()
            case .pow: return try power(x[0], x[1])
            case .abs: return Swift.abs(x[0])
            // Python's min/max keep the first of equal values and compare with `<`, so NaN propagates only
            // when it comes first; Swift's would drop it. The job fails on a NaN rate either way.
            case .min: return x.dropFirst().reduce(x[0]) { $1 < $0 ? $1 : $0 }
            case .max: return x.dropFirst().reduce(x[0]) { $1 > $0 ? $1 : $0 }
            case .floor: return x[0].rounded(.down)
            case .ceil: return x[0].rounded(.up)
            case .cos: return Foundation.cos(x[0])
            case .sin: return Foundation.sin(x[0])
            case .tanh: return Foundation.tanh(x[0])
            }
        }
    }
}
