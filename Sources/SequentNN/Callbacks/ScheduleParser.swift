/// The tokenizer and recursive-descent parser of `ScheduleExpression`, one function per level of Python's
/// grammar, loosest first:
///
///     expression  := disjunction ['if' disjunction 'else' expression]
///     disjunction := conjunction ('or' conjunction)*
///     conjunction := inversion ('and' inversion)*
///     inversion   := 'not' inversion | comparison
///     comparison  := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)*
///     sum         := term (('+' | '-') term)*
///     term        := factor (('*' | '/' | '//' | '%') factor)*
///     factor      := ('+' | '-') factor | power
///     power       := primary ['**' factor]
///     primary     := number | name | function '(' expression (',' expression)* ')' | '(' expression ')'
struct ScheduleParser {
    typealias Node = ScheduleExpression.Node
    typealias SyntaxError = ScheduleExpression.SyntaxError

    enum Token: Equatable {
        case number(Double)
        /// A name with its dotted prefix, as written (`math.exp`).
        case name(String)
        case symbol(String)
        case end

        var shown: String {
            switch self {
            case .number(let v): return "the number \(v)"
            case .name(let n): return "'\(n)'"
            case .symbol(let s): return "'\(s)'"
            case .end: return "the end of the expression"
            }
        }
    }

    /// Prefixes pasted Python puts on the allowed names; anything else with a dot is attribute access.
    static let prefixes = ["", "math.", "np.", "numpy.", "tf.math.", "ops.", "keras.ops."]
    static let keywords: Set<String> = ["if", "else", "and", "or", "not"]
    static let symbols = ["**", "//", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">", "(", ")", ","]

    private var tokens: [(token: Token, position: Int)] = []
    private var index = 0
    private var depth = 0

    init(_ source: String) throws(SyntaxError) {
        let chars = Array(source.unicodeScalars)
        guard chars.count <= ScheduleExpression.maxLength else {
            throw SyntaxError(position: ScheduleExpression.maxLength + 1,
                              message: "the expression is \(chars.count) characters long, "
                                  + "at most \(ScheduleExpression.maxLength) are allowed")
        }
        tokens = try Self.tokenize(chars)
    }

    static func tokenize(_ c: [Unicode.Scalar]) throws(SyntaxError) -> [(token: Token, position: Int)] {
        func isDigit(_ i: Int) -> Bool { i < c.count && ("0"..."9").contains(c[i]) }
        func isNameStart(_ i: Int) -> Bool {
            i < c.count && (c[i] == "_" || ("a"..."z").contains(c[i]) || ("A"..."Z").contains(c[i]))
        }
        var out: [(token: Token, position: Int)] = []
        var i = 0
        scan: while i < c.count {
            let start = i
            if [" ", "\t", "\n", "\r"].contains(c[i]) { i += 1; continue }
            if isDigit(i) || (c[i] == "." && isDigit(i + 1)) {
                while isDigit(i) { i += 1 }
                if i < c.count && c[i] == "." { i += 1; while isDigit(i) { i += 1 } }
                if i < c.count && (c[i] == "e" || c[i] == "E") {
                    var j = i + 1
                    if j < c.count && (c[j] == "+" || c[j] == "-") { j += 1 }
                    guard isDigit(j) else {
                        throw SyntaxError(position: i + 1, message: "expected the digits of an exponent after '\(c[i])'")
                    }
                    i = j
                    while isDigit(i) { i += 1 }
                }
                let text = String(String.UnicodeScalarView(c[start..<i]))
                guard let v = Double(text) else { throw SyntaxError(position: start + 1, message: "'\(text)' is not a number") }
                // `1.x` or `2abc`: Python refuses a name glued to a number, and so does this.
                if isNameStart(i) || (i < c.count && c[i] == ".") {
                    throw SyntaxError(position: i + 1, message: "expected an operator after the number \(text), got '\(c[i])'")
                }
                out.append((.number(v), start + 1))
                continue
            }
            if isNameStart(i) {
                // A dotted name is read whole so that `epoch.__class__` is one unknown name, not an attribute.
                repeat {
                    if c[i] == "." { i += 1 }
                    guard isNameStart(i) else { throw SyntaxError(position: i + 1, message: "expected a name after '.'") }
                    while isNameStart(i) || isDigit(i) { i += 1 }
                } while i < c.count && c[i] == "."
                out.append((.name(String(String.UnicodeScalarView(c[start..<i]))), start + 1))
                continue
            }
            for s in symbols where c[i...].starts(with: s.unicodeScalars) {
                out.append((.symbol(s), start + 1))
                i += s.unicodeScalars.count
                continue scan
            }
            let what = c[i].isASCII && c[i].value >= 0x20 ? "'\(c[i])'" : "U+\(String(c[i].value, radix: 16, uppercase: true))"
            throw SyntaxError(position: start + 1, message: "unexpected character \(what): only numbers, epoch, lr, "
                              + "arithmetic, comparisons, and/or/not, if/else and the math functions are allowed")
        }
        out.append((.end, c.count + 1))
        return out
    }

    private var current: Token { tokens[index].token }
    private var position: Int { tokens[index].position }

    private func fail(expected: String) -> SyntaxError {
        SyntaxError(position: position, message: "expected \(expected), got \(current.shown)")
    }

    private mutating func take(_ symbol: String) -> Bool {
        guard current == .symbol(symbol) else { return false }
        index += 1
        return true
    }

    private mutating func takeKeyword(_ word: String) -> Bool {
        guard current == .name(word) else { return false }
        index += 1
        return true
    }

    /// Runs `body` one nesting level deeper, refusing input nested past `maxDepth` at the token that opened
    /// the level (the `(`, `-`, `not`, `**`, `else` or argument separator just taken).
    private mutating func nested(_ body: (inout ScheduleParser) throws(SyntaxError) -> Node) throws(SyntaxError) -> Node {
        guard depth < ScheduleExpression.maxDepth else {
            throw SyntaxError(position: tokens[Swift.max(index - 1, 0)].position,
                              message: "the expression is nested more than \(ScheduleExpression.maxDepth) levels deep")
        }
        depth += 1
        defer { depth -= 1 }
        return try body(&self)
    }

    mutating func parseAll() throws(SyntaxError) -> Node {
        let node = try expression()
        guard current == .end else { throw fail(expected: "an operator or the end of the expression") }
        return node
    }

    mutating func expression() throws(SyntaxError) -> Node {
        let then = try disjunction()
        guard takeKeyword("if") else { return then }
        let condition = try disjunction()
        guard takeKeyword("else") else { throw fail(expected: "'else' (Python's `a if condition else b`)") }
        let otherwise = try nested { p throws(SyntaxError) in try p.expression() }
        return .conditional(then: then, condition: condition, otherwise: otherwise)
    }

    mutating func disjunction() throws(SyntaxError) -> Node {
        var node = try conjunction()
        while takeKeyword("or") { node = .or(node, try conjunction()) }
        return node
    }

    mutating func conjunction() throws(SyntaxError) -> Node {
        var node = try inversion()
        while takeKeyword("and") { node = .and(node, try inversion()) }
        return node
    }

    mutating func inversion() throws(SyntaxError) -> Node {
        guard takeKeyword("not") else { return try comparison() }
        return .not(try nested { p throws(SyntaxError) in try p.inversion() })
    }

    mutating func comparison() throws(SyntaxError) -> Node {
        let first = try sum()
        var rest: [(ScheduleExpression.Comparison, Node)] = []
        while case .symbol(let s) = current, let op = ScheduleExpression.Comparison(rawValue: s) {
            index += 1
            rest.append((op, try sum()))
        }
        return rest.isEmpty ? first : .compare(first, rest)
    }

    mutating func sum() throws(SyntaxError) -> Node {
        var node = try term()
        while true {
            if take("+") { node = .binary(.add, node, try term()) }
            else if take("-") { node = .binary(.subtract, node, try term()) }
            else { return node }
        }
    }

    mutating func term() throws(SyntaxError) -> Node {
        var node = try factor()
        while case .symbol(let s) = current, ["*", "/", "//", "%"].contains(s) {
            index += 1
            node = .binary(ScheduleExpression.BinaryOperator(rawValue: s)!, node, try factor())
        }
        return node
    }

    mutating func factor() throws(SyntaxError) -> Node {
        if take("+") { return try nested { p throws(SyntaxError) in try p.factor() } }
        if take("-") { return .negate(try nested { p throws(SyntaxError) in try p.factor() }) }
        return try power()
    }

    mutating func power() throws(SyntaxError) -> Node {
        let base = try primary()
        guard take("**") else { return base }
        // Right-associative, and the exponent may carry its own sign: 2**-1, 2**3**2 = 2**9.
        return .binary(.power, base, try nested { p throws(SyntaxError) in try p.factor() })
    }

    mutating func primary() throws(SyntaxError) -> Node {
        let start = position
        switch current {
        case .number(let v):
            index += 1
            return .number(v)
        case .symbol("("):
            index += 1
            let inner = try nested { p throws(SyntaxError) in try p.expression() }
            guard take(")") else { throw fail(expected: "')' to close the '(' at position \(start)") }
            return inner
        case .name(let written):
            guard !Self.keywords.contains(written) else { throw fail(expected: "a number, a name or '('") }
            index += 1
            return try name(written, at: start)
        default:
            throw fail(expected: "a number, epoch, lr, a function or '('")
        }
    }

    /// A variable, constant or function call; `written` may carry one of the accepted prefixes.
    mutating func name(_ written: String, at start: Int) throws(SyntaxError) -> Node {
        switch written {
        case "epoch": return .epoch
        case "lr": return .lr
        default: break
        }
        let bare = Self.prefixes.sorted { $0.count > $1.count }
            .first { !$0.isEmpty && written.hasPrefix($0) }.map { String(written.dropFirst($0.count)) } ?? written
        switch bare {
        case "pi": return .number(Double.pi)
        case "e": return .number(2.718281828459045)
        default: break
        }
        guard let f = ScheduleExpression.Function(rawValue: bare) else {
            throw SyntaxError(position: start, message: "unknown name '\(written)': expected epoch, lr, pi, e or one of "
                              + "the functions "
                              + ScheduleExpression.Function.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard take("(") else { throw fail(expected: "'(' after the function \(written)") }
        var args: [Node] = []
        if !take(")") {
            repeat {
                args.append(try nested { p throws(SyntaxError) in try p.expression() })
            } while take(",")
            guard take(")") else { throw fail(expected: "',' or ')' in the call of \(written) at position \(start)") }
        }
        guard f.arity.contains(args.count) else {
            let want = f.arity.upperBound == Int.max ? "at least \(f.arity.lowerBound)"
                : f.arity.count == 1 ? "\(f.arity.lowerBound)" : "\(f.arity.lowerBound) or \(f.arity.upperBound)"
            let plural = want == "1" ? "" : "s"
            throw SyntaxError(position: start, message: "\(written) takes \(want) argument\(plural), got \(args.count)")
        }
        return .call(f, args)
    }
}
