import ExpertInitExample
import MoEAdaptation
import MoETensor
import Testing

@Suite struct AverageExpertInitializerTests {
    /// New experts become the mean of the old ones; old experts are untouched.
    @Test func newExpertsAverageTheOldOnes() {
        let w1 = Tensor(shape: [3, 1, 2], storage: [1, 2, 3, 4, 0, 0])
        let b1 = Tensor(shape: [3, 2], storage: [1, 1, 3, 3, 9, 9])
        let w2 = Tensor(shape: [3, 2, 1], storage: [0, 2, 2, 0, 5, 5])
        let b2 = Tensor(shape: [3, 1], storage: [1, 3, 7])
        var bank = ExpertBank(w1: w1, b1: b1, w2: w2, b2: b2)
        var rng = SeededGenerator(seed: 1)
        AverageExpertInitializer(noise: 0).initialize(
            &bank, context: ExpansionContext(moeLayer: 0, oldCount: 2, usage: nil), rng: &rng)
        #expect(bank.w1.storage == [1, 2, 3, 4, 2, 3])
        #expect(bank.b1.storage == [1, 1, 3, 3, 2, 2])
        #expect(bank.w2.storage == [0, 2, 2, 0, 1, 1])
        #expect(bank.b2.storage == [1, 3, 2])
    }
}
