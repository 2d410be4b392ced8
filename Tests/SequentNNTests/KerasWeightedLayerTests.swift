import Foundation
import Testing
@testable import SequentNN

/// Dense and Conv2D with set weights, Dropout and Rescaling in inference, and the MaxPooling2D variants, against
/// Keras 3 itself (Tests/Fixtures/keras-weighted-layers.json, from scripts/keras-fixtures.py): output, input
/// gradient and weight gradients of Σ y·w, each layer rebuilt from the config Keras serialised. The cases run in
/// each layer's test file through `LayerHarness.check(…, fixture:)`; here, the file is there and every class in
/// it is one Sequent builds.
@Suite struct KerasWeightedLayerTests {
    static let fixture = KerasFixture.load("keras-weighted-layers.json")

    @Test func fixtureIsPresent() {
        #expect(Self.fixture["keras_version"] == "3.15.1")
        #expect((Self.fixture["cases"]?.arrayValue?.count ?? 0) == 15)
    }

    @Test func everyFixtureClassIsALayerType() {
        let classes = Set((Self.fixture["cases"]?.arrayValue ?? []).compactMap { $0["class_name"]?.stringValue })
        #expect(classes == ["Dense", "Conv2D", "Dropout", "Rescaling", "MaxPooling2D"])
        #expect(classes.isSubset(of: ModelConfig.layerTypes))
    }
}
