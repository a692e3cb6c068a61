import Testing

@testable import MoETraining

/// The two-step sampler: each step draws dataset t with probability s_t / Σ s from the
/// saved generator, then takes the next batch from t's own batch sampler.
@Suite struct DatasetSamplerTests {
    static let weighted = [
        TinyDataset(name: "digits", samplingWeight: 3, batchSize: 16),
        TinyDataset(name: "other", samplingWeight: 1, batchSize: 8),
    ]

    static func draws(_ trainer: Trainer, _ n: Int) -> [Int] { (0..<n).map { _ in trainer.chooseDataset() } }

    @Test("with weights 3:1 the first dataset's share over 400 draws is 0.75 ± 0.06", arguments: [7, 8, 9] as [UInt64])
    func share(seed: UInt64) throws {
        let trainer = try tinyTrainer(try tinyRecipe(seed: seed, datasets: Self.weighted))
        let picks = Self.draws(trainer, 400)
        #expect(Set(picks).isSubset(of: [0, 1]))
        let share = Double(picks.filter { $0 == 0 }.count) / 400
        #expect(abs(share - 0.75) <= 0.06, "share \(share)")
    }

    @Test("the same seed gives the same dataset sequence; another seed a different one")
    func deterministic() throws {
        let recipe = try tinyRecipe(datasets: Self.weighted)
        let a = Self.draws(try tinyTrainer(recipe), 400)
        let b = Self.draws(try tinyTrainer(recipe), 400)
        let c = Self.draws(try tinyTrainer(try tinyRecipe(seed: 8, datasets: Self.weighted)), 400)
        #expect(a == b)
        #expect(a != c)
    }

    @Test("every step trains on the drawn dataset with a batch from that dataset's own sampler")
    func stepUsesChosenDataset() throws {
        let recipe = try tinyRecipe(steps: 12, datasets: Self.weighted)
        let trainer = try tinyTrainer(recipe)
        let twin = try tinyTrainer(recipe)
        let batch = Dictionary(uniqueKeysWithValues: recipe.datasets.map { ($0.name, $0.batchSize) })
        var chosen: Set<String> = []
        for _ in 0..<12 {
            let expected = recipe.datasets[twin.chooseDataset()].name
            let before = trainer.state
            let report = try trainer.step()
            chosen.insert(report.dataset)
            #expect(report.dataset == expected)
            #expect(report.images == batch[expected])
            for name in batch.keys {
                let grew = trainer.state.imagesSeen[name]! - before.imagesSeen[name]!
                #expect(grew == (name == expected ? batch[name]! : 0), "imagesSeen[\(name)]")
                var sampler = before.batchSamplers[name]!
                if name == expected { _ = sampler.next() }
                #expect(trainer.state.batchSamplers[name] == sampler, "sampler of \(name)")
            }
        }
        #expect(chosen == ["digits", "other"])
        #expect(
            trainer.state.imagesSeen.values.reduce(0, +) == trainer.state.imagesSeen["digits"]! + trainer.state
                .imagesSeen["other"]!)
    }

    @Test("a batch larger than a dataset's training split is an error, not a trap")
    func batchLargerThanSplit() throws {
        let recipe = try tinyRecipe(datasets: [TinyDataset(name: "digits", batchSize: 5000)])
        let error = thrown(TrainingError.self) { _ = try tinyTrainer(recipe) }
        guard case .datasetMismatch(let detail)? = error else {
            Issue.record("expected datasetMismatch, got \(String(describing: error))")
            return
        }
        #expect(detail.contains("datasets.digits.batchSize") && detail.contains("5000"))
    }
}
