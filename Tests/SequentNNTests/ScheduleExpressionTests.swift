import Foundation
import Testing
@testable import SequentNN

/// The schedule expression language: Python's precedence and semantics on the allowed subset, and refusals
/// that name the position and what was expected. Expected values are what CPython prints for the same text.
@Suite struct ScheduleExpressionTests {
    func value(_ source: String, epoch: Int = 0, lr: Double = 0.001) throws -> Double {
        try ScheduleExpression(source).evaluate(epoch: epoch, lr: lr)
    }

    func syntaxError(_ source: String) -> ScheduleExpression.SyntaxError? {
        do { _ = try ScheduleExpression(source); return nil } catch { return error }
    }

    @Test func precedenceAndAssociativityFollowPython() throws {
        let cases: [(String, Double)] = [
            ("-2**2", -4), ("2**-1", 0.5), ("2**3**2", 512), ("(2**3)**2", 64), ("-2**-2", -0.25),
            ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 - 4 - 3", 3), ("2 * 3 % 4", 2), ("-3 * -2", 6), ("+-+1", -1),
            ("7 % 3", 1), ("-7 % 3", 2), ("7 % -3", -2), ("7.5 % 2", 1.5), ("7 // 2", 3), ("-7 // 2", -4),
            ("1 < 2 < 3", 1), ("3 > 2 > 2", 0), ("1 <= 1 == 1 != 2", 1), ("2 >= 3", 0),
            ("not 1 < 0", 1), ("not 0 + 1", 0), ("not not 5", 1),
            ("0 and 5", 0), ("2 and 5", 5), ("0 or 5", 5), ("3 or 5", 3), ("1 or 0 and 0", 1), ("(1 or 0) and 0", 0),
            ("3 if 0 else 4 if 1 else 5", 4), ("1 + 1 if 0 else 2 * 5", 10), ("0.1 if not 0 else 0.2", 0.1),
            (".5", 0.5), ("5.", 5), ("1e-8", 1e-8), ("1E3", 1000), ("2.5e+2", 250), ("  1\t+\n1 ", 2),
        ]
        for (source, expected) in cases {
            #expect(try value(source) == expected, "\(source)")
        }
    }

    @Test func functionsConstantsAndPythonPrefixes() throws {
        let cases: [(String, Double)] = [
            ("exp(0)", 1), ("math.exp(0)", 1), ("np.log(e)", 1), ("tf.math.sqrt(16)", 4), ("numpy.abs(-3)", 3),
            ("ops.exp(0)", 1), ("keras.ops.floor(2.7)", 2), ("log(8, 2)", 3), ("pow(2, 10)", 1024), ("math.pow(9, .5)", 3),
            ("max(1, 3, 2)", 3), ("min(4, -1, 2)", -1), ("floor(-1.5)", -2), ("ceil(-1.5)", -1), ("abs(-2.5)", 2.5),
            ("cos(pi)", -1), ("math.cos(math.pi)", -1), ("sin(0)", 0), ("tanh(0)", 0), ("np.pi", Double.pi),
            ("math.e", 2.718281828459045),
        ]
        for (source, expected) in cases {
            #expect(try value(source) == expected, "\(source)")
        }
    }

    @Test func theCourseAndKerasDocsSchedules() throws {
        // CPython: repr(1e-8 * 10**(e/20)) for e in (0, 1, 7, 20, 99).
        let sweep = try ScheduleExpression("1e-8 * 10**(epoch/20)")
        let python: [(Int, Double)] = [(0, 1e-08), (1, 1.1220184543019634e-08), (7, 2.2387211385683395e-08),
                                       (20, 1e-07), (99, 0.0008912509381337459)]
        for (epoch, expected) in python {
            #expect(abs(try sweep.evaluate(epoch: epoch, lr: 0) - expected) <= expected * 1e-15, "epoch \(epoch)")
        }
        let docs = try ScheduleExpression("lr if epoch < 10 else lr * exp(-0.1)")
        #expect(try docs.evaluate(epoch: 9, lr: 0.01) == 0.01)
        #expect(try docs.evaluate(epoch: 10, lr: 0.01) == 0.01 * Foundation.exp(-0.1))
        // A step decay as users write it, with Python's floor division.
        #expect(try value("0.1 * 0.5 ** (epoch // 10)", epoch: 25) == 0.025)
    }

    @Test func syntaxErrorsNameThePositionAndWhatWasExpected() throws {
        let open = try #require(syntaxError("(1 + 2"))
        #expect(open.position == 7 && open.message.contains("expected ')' to close the '(' at position 1"))
        let dangling = try #require(syntaxError("1 +"))
        #expect(dangling.position == 4 && dangling.message.contains("got the end of the expression"))
        let noElse = try #require(syntaxError("lr if epoch < 3"))
        #expect(noElse.position == 16 && noElse.message.contains("expected 'else'"))
        let trailing = try #require(syntaxError("lr lr"))
        #expect(trailing.position == 4 && trailing.message.contains("expected an operator"))
        #expect(syntaxError("")?.position == 1)
        #expect(syntaxError("1e")?.message.contains("exponent") == true)
        #expect(syntaxError("2 *** 3")?.position == 5)
        #expect(syntaxError("exp")?.message.contains("expected '(' after the function exp") == true)
        #expect(syntaxError("exp(1, 2)")?.message == "exp takes 1 argument, got 2")
        #expect(syntaxError("max(1)")?.message == "max takes at least 2 arguments, got 1")
        #expect(syntaxError("log(1, 2, 3)")?.message == "log takes 1 or 2 arguments, got 3")
        #expect(syntaxError("epoch if else 1")?.position == 10)
        #expect(syntaxError("1 = 2")?.message.contains("unexpected character '='") == true)
    }

    @Test func hostileInputIsRefused() throws {
        // Anything that is not arithmetic on the allowed names: no builtins, attributes, strings or lambdas.
        let importing = try #require(syntaxError("__import__('os')"))
        #expect(importing.position == 12 && importing.message.contains("unexpected character '''"))
        let call = try #require(syntaxError("__import__(os)"))
        #expect(call.position == 1 && call.message.contains("unknown name '__import__'"))
        let attribute = try #require(syntaxError("epoch.__class__"))
        #expect(attribute.position == 1 && attribute.message.contains("unknown name 'epoch.__class__'"))
        #expect(syntaxError("math.exp.__globals__")?.message.contains("unknown name") == true)
        #expect(syntaxError("os.system(1)")?.message.contains("unknown name 'os.system'") == true)
        #expect(syntaxError("math.epoch")?.message.contains("unknown name") == true)
        #expect(syntaxError("lambda: 1")?.position == 7)
        #expect(syntaxError("1 .real")?.position == 3)
        #expect(syntaxError("(1).real")?.position == 4)
        #expect(syntaxError("[1][0]")?.position == 1)
        #expect(syntaxError("epoch; 1")?.position == 6)
        #expect(syntaxError("lr\u{0}")?.message.contains("U+0") == true)
        #expect(syntaxError("1 + é")?.position == 5)
        let long = try #require(syntaxError(String(repeating: "a", count: 2000)))
        #expect(long.message.contains("2000 characters") && long.message.contains("at most 1000"))
        // 999 characters, flat: a left-deep tree of 499 additions, evaluated recursively within the stack.
        #expect(try value(String(repeating: "1+", count: 499) + "1") == 500)
    }

    @Test func nestingIsLimited() throws {
        func parens(_ n: Int) -> String { String(repeating: "(", count: n) + "1" + String(repeating: ")", count: n) }
        #expect(try value(parens(64)) == 1)
        let deep = try #require(syntaxError(parens(65)))
        #expect(deep.position == 65 && deep.message.contains("nested more than 64 levels"))
        #expect(syntaxError(String(repeating: "-", count: 65) + "1")?.message.contains("nested") == true)
        #expect(syntaxError(String(repeating: "not ", count: 65) + "1")?.message.contains("nested") == true)
        #expect(syntaxError(String(repeating: "2**", count: 65) + "1")?.message.contains("nested") == true)
        #expect(syntaxError(String(repeating: "exp(", count: 65) + "0" + String(repeating: ")", count: 65))?.message.contains("nested") == true)
        #expect(syntaxError(String(repeating: "1 if 1 else ", count: 65) + "1")?.message.contains("nested") == true)
        #expect(syntaxError(String(repeating: "(", count: 600))?.message.contains("nested") == true)
    }

    @Test func evaluationErrorsAreWhatPythonRaises() throws {
        func failure(_ source: String, epoch: Int = 0) -> String? {
            do { _ = try value(source, epoch: epoch); return nil }
            catch let e as ScheduleExpression.EvaluationError { return e.message } catch { return "not parsed: \(error)" }
        }
        #expect(failure("1 / (epoch - 3)", epoch: 3)?.contains("division by zero") == true)
        #expect(failure("1 / (epoch - 3)", epoch: 2) == nil)
        #expect(failure("epoch % 0")?.contains("modulo by zero") == true)
        #expect(failure("log(epoch)")?.contains("math domain error: log(0.0)") == true)
        #expect(failure("sqrt(-1)")?.contains("math domain error") == true)
        #expect(failure("(-8) ** (1/3)")?.contains("fractional power") == true)
        #expect(failure("0 ** -1")?.contains("negative power") == true)
        // Short-circuits and untaken branches are not evaluated, as in Python.
        #expect(failure("1 if epoch == 0 else 1 / epoch") == nil)
        #expect(failure("epoch and 1 / epoch") == nil)
        #expect(failure("1 or 1 / 0") == nil)
    }
}
