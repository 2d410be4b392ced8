import Testing
@testable import SequentData
@testable import SequentNN

@Suite struct AugmentationTests {
    /// A 4×5 one-channel image with distinct values: v(y, x) = 10·y + x.
    let h = 4, w = 5
    var image: [Float] {
        var out: [Float] = []
        for y in 0..<4 { for x in 0..<5 { out.append(Float(10 * y + x)) } }
        return out
    }

    func run(_ a: Augmentation, _ d: Augmentation.Draw) -> [Float] {
        var out = [Float](repeating: -1, count: h * w)
        image.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { a.transform(src.baseAddress!, $0.baseAddress!, height: h, width: w, channels: 1, draw: d) }
        }
        return out
    }

    @Test func identityDrawLeavesTheImage() {
        #expect(run(Augmentation(), Augmentation.Draw()) == image)
    }

    @Test func horizontalFlipMirrorsColumns() {
        var d = Augmentation.Draw()
        d.flip = true
        let out = run(Augmentation(), d)
        for y in 0..<h { for x in 0..<w { #expect(out[y * w + x] == image[y * w + (w - 1 - x)]) } }
    }

    @Test(arguments: Augmentation.FillMode.allCases)
    func shiftFillsTheUncoveredEdge(mode: Augmentation.FillMode) {
        var a = Augmentation()
        a.fillMode = mode
        a.cval = -7
        var d = Augmentation.Draw()
        d.ty = 2   // sample two columns to the right: content moves left by 2
        let out = run(a, d)
        for y in 0..<h {
            for x in 0..<3 { #expect(out[y * w + x] == image[y * w + x + 2]) }
            let edge = Array(out[(y * w + 3)..<(y * w + 5)])
            let row = Float(10 * y)
            switch mode {
            case .constant: #expect(edge == [-7, -7])
            case .nearest: #expect(edge == [row + 4, row + 4])
            case .wrap: #expect(edge == [row + 0, row + 1])
            case .reflect: #expect(edge == [row + 4, row + 3])
            }
        }
    }

    @Test func quarterTurnRotatesASquare() {
        // On a square image a 90° rotation is a permutation of pixels (no interpolation).
        let n = 4
        let img: [Float] = (0..<(n * n)).map(Float.init)
        var d = Augmentation.Draw()
        d.theta = .pi / 2
        var out = [Float](repeating: 0, count: n * n)
        img.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { Augmentation().transform(src.baseAddress!, $0.baseAddress!, height: n, width: n, channels: 1, draw: d) }
        }
        #expect(Set(out.map { $0.rounded() }) == Set(img))
        #expect(out.allSatisfy { abs($0 - $0.rounded()) < 1e-4 })
        #expect(out != img)
    }

    @Test func batchesAreDeterministicUnderASeed() {
        var a = Augmentation()
        a.rotationRange = 40
        a.widthShiftRange = 0.2
        a.heightShiftRange = 0.2
        a.shearRange = 20
        a.zoomRange = 0.2
        a.horizontalFlip = true
        func batch(seed: UInt64, epoch: Int) -> [Float] {
            var b = randomBatch()
            var scratch = [Float](repeating: 0, count: 8 * 8 * 3)
            b.withUnsafeMutableBufferPointer { bp in
                scratch.withUnsafeMutableBufferPointer { a.apply(batch: bp.baseAddress!, n: 4, height: 8, width: 8, channels: 3, seed: seed, epoch: epoch, step: 3, scratch: $0.baseAddress!) }
            }
            return b
        }
        #expect(batch(seed: 1, epoch: 0) == batch(seed: 1, epoch: 0))
        #expect(batch(seed: 1, epoch: 0) != batch(seed: 2, epoch: 0))
        #expect(batch(seed: 1, epoch: 0) != batch(seed: 1, epoch: 1))
        #expect(batch(seed: 1, epoch: 0) != randomBatch())
    }

    func randomBatch() -> [Float] {
        var rng = SeededGenerator(seed: 9)
        return (0..<(4 * 8 * 8 * 3)).map { _ in rng.uniform(0, 1) }
    }
}
