import Foundation
import MoECheckpoint
import MoETensor
import MoETestSupport
import Testing

@testable import MoEBalancing
@testable import MoEOptim
@testable import MoERecipe
@testable import MoETraining

/// Round-robin steps with every balancing method on the MoE backbone (two tiny digits
/// datasets), the loss-scale experiment of "Examining Common Paradigms in MTL", per-task Adam,
/// diagnostics, and bit-identical resume with learned balancer state.
@Suite struct RoundRobinTrainingTests {
    static let twoDatasets = [
        TinyDataset(name: "digits", samplingWeight: 3, batchSize: 16),
        TinyDataset(name: "digits-b", samplingWeight: 1, batchSize: 8),
    ]

    static func recipe(
        _ balancing: String, optimizer: String = "adamw", steps: Int = 4, extra: [String] = []
    ) throws -> Recipe {
        try tinyRecipe(
            steps: steps, optimizer: optimizer, datasets: twoDatasets,
            overrides: ["balancing=\(balancing)"] + extra)
    }

    /// Largest absolute difference between the two models' parameters.
    static func maxDifference(_ a: Trainer, _ b: Trainer) -> Float {
        var m: Float = 0
        for (p, q) in zip(a.model.store.parameters, b.model.store.parameters) {
            for (x, y) in zip(p.value.storage, q.value.storage) { m = max(m, abs(x - y)) }
        }
        return m
    }

    @Test(
        "every balancing method trains through roundRobin steps",
        arguments: BalancingMethod.allCases)
    func everyMethodSteps(method: BalancingMethod) throws {
        let recipe = try Self.recipe(method.rawValue, extra: ["training.diagnosticsEvery=2"])
        #expect(recipe.stepMode == (method.needsRoundRobin ? .roundRobin : .sampled))
        let trainer = try tinyTrainer(
            try Self.recipe(
                method.rawValue, extra: ["training.stepMode=roundRobin", "training.diagnosticsEvery=2"]))
        let before = parameterBits(trainer.model)
        var reports: [StepReport] = []
        for _ in 0..<4 { reports.append(try trainer.step()) }
        #expect(reports.allSatisfy { $0.loss.isFinite && $0.taskLosses.count == 2 && $0.images == 24 })
        #expect(reports.map { $0.diagnostics != nil } == [false, true, false, true])
        let d = try #require(reports[1].diagnostics)
        #expect(d.groups.first?.name == "backbone" && d.groups.count == 4)  // backbone, embed, 2 blocks
        #expect(d.groups[0].cosine.count == 1 && d.groups[0].norms.allSatisfy { $0 > 0 })
        #expect(!differingNames(before, parameterBits(trainer.model)).isEmpty)
        #expect(trainer.state.imagesSeen == ["digits": 64, "digits-b": 32])
    }

    @Test("--set balancing=pcgrad switches to roundRobin; recipe checks name the key")
    func recipeSwitches() throws {
        let r = try Self.recipe("pcgrad")
        #expect(r.balancing.method == .pcgrad && r.stepMode == .roundRobin)
        let mapping = try tinyRecipe(
            datasets: Self.twoDatasets,
            overrides: [
                "balancing.method=gradnorm", "balancing.alpha=0.5", "balancing.layer=blocks.0.",
            ])
        #expect(mapping.balancing.method == .gradnorm && mapping.balancing.alpha == 0.5)
        #expect(mapping.balancing.layer == "blocks.0.")
        // `balancing: NAME` in the file can be extended and switched from the command line.
        let yaml = tinyRecipeYAML(datasets: Self.twoDatasets) + "balancing: gradnorm\n"
        let extended = try Recipe.parse(
            yaml: yaml, source: "r.yaml",
            overrides: [
                "balancing.alpha=0.5", "balancing=gradsplit", "balancing.relations=[[1, 0], [1, 1]]",
            ])
        #expect(extended.balancing.method == .gradsplit && extended.balancing.alpha == 0.5)
        #expect(extended.balancing.relations == [[1, 0], [1, 1]])
        // `--set optimizer=NAME` switches the kind and keeps the other optimiser settings.
        let perTask = try tinyRecipe(
            datasets: Self.twoDatasets,
            overrides: [
                "optimizer.lr=0.02", "optimizer=adam-per-task",
            ])
        #expect(perTask.optimizer.kind == .adamPerTask && perTask.optimizer.learningRate == 0.02)
        // Typos and bad combinations name the key.
        let typo = thrown(RecipeError.self) {
            _ = try tinyRecipe(datasets: Self.twoDatasets, overrides: ["balancing.alhpa=1"])
        }
        #expect("\(typo.map { "\($0)" } ?? "")".contains("balancing.alhpa"))
        let sampled = thrown(RecipeError.self) {
            _ = try Self.recipe("pcgrad", extra: ["training.stepMode=sampled"])
        }
        #expect("\(sampled.map { "\($0)" } ?? "")".contains("training.stepMode"))
        let clip = thrown(RecipeError.self) { _ = try Self.recipe("tbgc", extra: ["optimizer.clip=1"]) }
        #expect("\(clip.map { "\($0)" } ?? "")".contains("optimizer.clip"))
        let unknown = thrown(RecipeError.self) { _ = try Self.recipe("gradnrom") }
        #expect("\(unknown.map { "\($0)" } ?? "")".contains("gradnrom"))
        // The recipe (balancing included) survives the checkpoint's JSON.
        let g = try tinyRecipe(
            datasets: Self.twoDatasets,
            overrides: [
                "balancing.method=gradsplit", "balancing.relations=[[1, 0], [1, 1]]",
            ])
        let back = try JSONDecoder().decode(Recipe.self, from: Data(try g.jsonString().utf8))
        #expect(back == g && back.balancing.relations == [[1, 0], [1, 1]])
    }

    @Test("an epoch of roundRobin steps is the longest dataset's epoch; sampled sums them")
    func epochLength() throws {
        let base = ["training.steps=null", "training.epochs=1"]
        let rr = try Self.recipe("equal", extra: base + ["training.stepMode=roundRobin"])
        let sampled = try Self.recipe("equal", extra: base)
        let data = tinyData(rr)
        let batches = data.map { $0.train.count / $0.recipe.batchSize }
        #expect(rr.totalSteps(for: data) == batches.max())
        #expect(sampled.totalSteps(for: data) == batches.reduce(0, +))
    }

    /// Trains 3 steps with task 0's loss multiplied by `scale`.
    static func scaled(_ recipe: Recipe, scale: Float) throws -> Trainer {
        let trainer = try tinyTrainer(recipe)
        trainer.taskLossScales = [scale, 1]
        for _ in 0..<3 { try trainer.step() }
        return trainer
    }

    @Test("loss scale ×10: analytic uncertainty leaves SGD's updates unchanged, equal weighting does not")
    func analyticUncertaintyIsScaleInvariant() throws {
        let extra = ["training.miWeight=0", "training.stepMode=roundRobin", "optimizer.weightDecay=0"]
        let analytic = try Self.recipe("uncertainty-analytic", optimizer: "sgd", extra: extra)
        let a = try Self.maxDifference(Self.scaled(analytic, scale: 1), Self.scaled(analytic, scale: 10))
        let equal = try Self.recipe("equal", optimizer: "sgd", extra: extra)
        let e = try Self.maxDifference(Self.scaled(equal, scale: 1), Self.scaled(equal, scale: 10))
        #expect(a < 1e-5, "analytic: \(a)")
        #expect(e > 1e-3, "equal: \(e)")
    }

    /// Mean absolute difference between the two models' parameters.
    static func meanDifference(_ a: Trainer, _ b: Trainer) -> Double {
        var sum = 0.0
        var n = 0
        for (p, q) in zip(a.model.store.parameters, b.model.store.parameters) {
            for (x, y) in zip(p.value.storage, q.value.storage) {
                sum += Double(abs(x - y))
                n += 1
            }
        }
        return sum / Double(n)
    }

    @Test("loss scale ×10 on the MoE: adam-per-task's update is unchanged, one shared Adam's is not")
    func adamPerTaskIsScaleInvariant() throws {
        // One step: elements whose gradient is rounding noise (e.g. the key bias, which the
        // softmax ignores) are normalised to ±lr by any Adam and differ, so compare means.
        let extra = ["training.miWeight=0", "training.stepMode=roundRobin"]
        func difference(_ optimizer: String) throws -> Double {
            let recipe = try Self.recipe("equal", optimizer: optimizer, extra: extra)
            let a = try tinyTrainer(recipe)
            let b = try tinyTrainer(recipe)
            b.taskLossScales = [10, 1]
            try a.step()
            try b.step()
            return Self.meanDifference(a, b)
        }
        let p = try difference("adam-per-task")
        let s = try difference("adamw")
        #expect(p < 1e-5, "adam-per-task: \(p)")
        #expect(s > 100 * p, "adamw: \(s)")
    }

    @Test("AdamPerTask: scaling one task's gradients by 10 leaves every update unchanged")
    func adamPerTaskOptimizerInvariance() {
        var rng = SeededGenerator(seed: 5)
        func run(scale: Float) -> [Float] {
            let store = ParameterStore()
            store.add("blocks.0.w", Tensor(shape: [8], repeating: 0.5))
            store.add("heads.a.w", Tensor(shape: [4], repeating: 0.5))
            store.add("heads.b.w", Tensor(shape: [4], repeating: 0.5))
            let opt = AdamPerTask(settings: OptimizerSettings(kind: .adamPerTask, weightDecay: 0.1), tasks: ["a", "b"])
            var r = rng
            for _ in 0..<5 {
                for (t, task) in ["a", "b"].enumerated() {
                    let s: Float = t == 0 ? scale : 1
                    store.parameters[0].grad = Tensor(shape: [8], storage: (0..<8).map { _ in s * (r.uniform() - 0.5) })
                    store.parameters[t + 1].grad = Tensor(
                        shape: [4], storage: (0..<4).map { _ in s * (r.uniform() - 0.5) })
                    store.parameters[2 - t].grad = Tensor(shape: [4])
                    opt.step(store, lr: 0.01, scope: .task(t, decaysShared: t == 0))
                    _ = task
                }
            }
            return store.parameters.flatMap(\.value.storage)
        }
        let a = run(scale: 1)
        let b = run(scale: 10)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 })
        _ = rng.next()
    }

    @Test(
        "roundRobin: 3 steps + checkpoint + resume + 3 steps is bit-identical to 6 steps",
        arguments: [
            ("gradnorm", "adamw"), ("uncertainty", "adam-per-task"), ("pcgrad", "sgd"),
            ("tbgc", "lamb"), ("gradsplit", "adamw"),
        ])
    func resumeIsBitIdentical(balancing: String, optimizer: String) throws {
        let recipe = try Self.recipe(balancing, optimizer: optimizer, steps: 6)
        let uninterrupted = try tinyTrainer(recipe)
        var expected: [StepReport] = []
        for _ in 0..<6 { expected.append(try uninterrupted.step()) }
        let first = try tinyTrainer(recipe)
        for _ in 0..<3 { try first.step() }
        try withTemporaryDirectory { dir in
            let url = dir.appendingPathComponent("run.moe")
            try first.checkpoint().write(to: url)
            let resumed = try Trainer(resuming: try RunCheckpoint.read(path: url.path), path: url.path)
            #expect(resumed.state == first.state && resumed.state.balancer != nil)
            var actual: [StepReport] = []
            for _ in 0..<3 { actual.append(try resumed.step()) }
            #expect(actual.map(\.loss.bitPattern) == expected[3...].map(\.loss.bitPattern))
            #expect(differingNames(parameterBits(resumed.model), parameterBits(uninterrupted.model)) == [])
            #expect(differingNames(optimizerBits(resumed.optimizer), optimizerBits(uninterrupted.optimizer)) == [])
            #expect(resumed.state == uninterrupted.state)
        }
        if balancing == "gradnorm" {
            let w = try #require(uninterrupted.state.balancer?.weights)
            #expect(abs(w.reduce(0, +) - 2) < 1e-4 && w != [1, 1])
        }
    }

    @Test("adam-per-task keeps one moment pair per task for shared parameters only")
    func adamPerTaskState() throws {
        let trainer = try tinyTrainer(
            try Self.recipe("equal", optimizer: "adam-per-task", extra: ["training.stepMode=roundRobin"]))
        try trainer.step()
        let names = Set(trainer.optimizer.stateTensors().map(\.name))
        #expect(names.contains("optim.m.digits.blocks.0.attn.qkv.weight"))
        #expect(names.contains("optim.v.digits-b.blocks.0.attn.qkv.weight"))
        #expect(
            names.contains("optim.m.heads.digits.fc.weight") || names.contains { $0.hasPrefix("optim.m.heads.digits.") }
        )
        #expect(!names.contains { $0.hasPrefix("optim.m.digits.heads.") })
        #expect(trainer.optimizer.stateMetadata["optim.paramSteps.digits"] != nil)
    }
}
