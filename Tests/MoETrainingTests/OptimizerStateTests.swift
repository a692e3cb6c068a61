import Foundation
import MoETensor
import Testing

@testable import MoEOptim
@testable import MoETraining

// MARK: - state round trip

@Test(arguments: OptimizerKind.allCases)
func stateRoundTripIsBitIdentical(_ kind: OptimizerKind) throws {
    var rng = SeededGenerator(seed: 31)
    let store = ParameterStore()
    store.add("w", Tensor(shape: [3, 4], storage: randomValues(12, &rng)))
    store.add("b", Tensor(shape: [4], storage: randomValues(4, &rng)), decays: false)
    store.add("f", Tensor(shape: [2], storage: randomValues(2, &rng)), isTrainable: false)
    let s = OptimizerSettings(kind: kind, learningRate: 0.01, weightDecay: 0.1, nesterov: true)
    var opt = makeOptimizer(s)
    func randomGrads(_ store: ParameterStore, _ rng: inout SeededGenerator) -> [[Float]] {
        store.parameters.map { randomValues($0.value.count, &rng) }
    }
    func apply(_ grads: [[Float]], _ store: ParameterStore) {
        for (p, g) in zip(store.parameters, grads) { setGrad(store, p.name, g) }
    }
    for _ in 0..<3 {
        apply(randomGrads(store, &rng), store)
        opt.step(store, lr: 0.01)
    }
    let saved = Dictionary(uniqueKeysWithValues: opt.stateTensors().map { ($0.name, $0.tensor) })
    let meta = opt.stateMetadata
    let resumedStore = copyStore(store)
    var resumed = makeOptimizer(s)
    try resumed.loadState(tensors: saved, metadata: meta, store: resumedStore)
    #expect(resumed.stepCount == 3)

    for _ in 0..<2 {
        let grads = randomGrads(store, &rng)
        apply(grads, store)
        apply(grads, resumedStore)
        opt.step(store, lr: 0.007)
        resumed.step(resumedStore, lr: 0.007)
    }
    for (a, b) in zip(store.parameters, resumedStore.parameters) {
        #expect(a.value.storage.map(\.bitPattern) == b.value.storage.map(\.bitPattern))
    }
    #expect(opt.stateTensors().map(\.name) == resumed.stateTensors().map(\.name))
}

@Test func stateNamesAndMetadata() {
    let store = ParameterStore()
    store.add("blocks.0.w", Tensor(shape: [2], repeating: 1))
    setGrad(store, "blocks.0.w", [1, 1])
    var adam = AdamW(settings: OptimizerSettings())
    adam.step(store, lr: 1e-3)
    #expect(adam.stateTensors().map(\.name) == ["optim.m.blocks.0.w", "optim.v.blocks.0.w"])
    #expect(adam.stateMetadata["optim.kind"] == "adamw")
    #expect(adam.stateMetadata["optim.stepCount"] == "1")
    var sgd = SGD(settings: OptimizerSettings(kind: .sgd))
    sgd.step(store, lr: 1e-3)
    #expect(sgd.stateTensors().map(\.name) == ["optim.momentum.blocks.0.w"])
}

@Test func loadStateErrors() throws {
    let store = ParameterStore()
    store.add("w", Tensor(shape: [2], repeating: 1))
    setGrad(store, "w", [1, 1])
    var adam = AdamW(settings: OptimizerSettings())
    adam.step(store, lr: 1e-3)
    let tensors = Dictionary(uniqueKeysWithValues: adam.stateTensors().map { ($0.name, $0.tensor) })
    let meta = adam.stateMetadata

    var fresh = AdamW(settings: OptimizerSettings())
    var missing = tensors
    missing["optim.v.w"] = nil
    #expect(throws: OptimizerStateError.missingTensor("optim.v.w")) {
        try fresh.loadState(tensors: missing, metadata: meta, store: store)
    }
    var wrong = tensors
    wrong["optim.m.w"] = Tensor(shape: [3])
    #expect(throws: OptimizerStateError.shapeMismatch(name: "optim.m.w", expected: [2], found: [3])) {
        try fresh.loadState(tensors: wrong, metadata: meta, store: store)
    }
    var lamb = LAMB(settings: OptimizerSettings(kind: .lamb))
    #expect(throws: OptimizerStateError.self) {
        try lamb.loadState(tensors: tensors, metadata: meta, store: store)
    }
    #expect(throws: OptimizerStateError.self) {
        try fresh.loadState(tensors: tensors, metadata: [:], store: store)
    }
    #expect(fresh.stepCount == 0)
    #expect(fresh.stateTensors().isEmpty)
    let message = OptimizerStateError.missingTensor("optim.v.w").description
    #expect(message.contains("optim.v.w"))
}

@Test func expansionGivesNewParametersFreshState() throws {
    // A parameter added after some steps gets its own bias correction (t = 1): its first
    // AdamW update equals that of a fresh optimiser.
    let store = ParameterStore()
    store.add("old", Tensor(shape: [2], repeating: 1))
    var opt = AdamW(settings: OptimizerSettings(weightDecay: 0))
    for _ in 0..<10 {
        setGrad(store, "old", [1, -1])
        opt.step(store, lr: 0.1)
    }
    store.add("new", Tensor(shape: [2], repeating: 1))
    setGrad(store, "new", [0.5, -0.5])
    opt.step(store, lr: 0.1)
    let fresh = ParameterStore()
    fresh.add("new", Tensor(shape: [2], repeating: 1))
    setGrad(fresh, "new", [0.5, -0.5])
    var freshOpt = AdamW(settings: OptimizerSettings(weightDecay: 0))
    freshOpt.step(fresh, lr: 0.1)
    #expect(value(store, "new") == value(fresh, "new"))
    let meta = opt.stateMetadata["optim.paramSteps"] ?? ""
    #expect(meta.contains("\"new\":1") && meta.contains("\"old\":11"))
}

// MARK: - convergence

@Test(arguments: OptimizerKind.allCases)
func convergesOnQuadratic(_ kind: OptimizerKind) {
    // minimise ‖θ − c‖², gradient 2(θ − c), with a cosine-annealed learning rate.
    var rng = SeededGenerator(seed: 41)
    let n = 16
    let target = randomValues(n, &rng, scale: 3)
    let store = ParameterStore()
    store.add("theta", Tensor(shape: [n], storage: randomValues(n, &rng)))
    let peak: Float = kind == .sgd ? 0.05 : 0.1
    var opt = makeOptimizer(OptimizerSettings(kind: kind, learningRate: peak, weightDecay: 0))
    let schedule = LRSchedule(kind: .cosine, warmupSteps: 10, minFactor: 0)
    let total = 600
    func distance() -> Float {
        zip(value(store, "theta"), target).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            .squareRoot()
    }
    let start = distance()
    for step in 0..<total {
        setGrad(store, "theta", zip(value(store, "theta"), target).map { 2 * ($0 - $1) })
        opt.step(store, lr: schedule.learningRate(step: step, totalSteps: total, peakLR: peak))
    }
    #expect(distance() < 1e-2 * start, "\(kind): \(start) → \(distance())")
}

// MARK: - settings decoding

@Test func partialOptimizerSettingsDecode() throws {
    let json = #"{"kind": "lamb", "lr": 0.002, "clip": 1.0}"#
    let s = try JSONDecoder().decode(OptimizerSettings.self, from: Data(json.utf8))
    var expected = OptimizerSettings()
    expected.kind = .lamb
    expected.learningRate = 0.002
    expected.clipNorm = 1
    #expect(s == expected)
    let empty = try JSONDecoder().decode(OptimizerSettings.self, from: Data("{}".utf8))
    #expect(empty == OptimizerSettings())
    let all =
        #"{"kind":"sgd","lr":0.1,"weightDecay":0,"beta1":0.8,"beta2":0.9,"eps":1e-6,"momentum":0.5,"nesterov":true,"clip":2}"#
    let full = try JSONDecoder().decode(OptimizerSettings.self, from: Data(all.utf8))
    #expect(
        full
            == OptimizerSettings(
                kind: .sgd, learningRate: 0.1, weightDecay: 0, beta1: 0.8, beta2: 0.9,
                epsilon: 1e-6, momentum: 0.5, nesterov: true, clipNorm: 2))
    let again = try JSONDecoder().decode(
        OptimizerSettings.self, from: try JSONEncoder().encode(full))
    #expect(again == full)
}

@Test func partialScheduleDecode() throws {
    let s = try JSONDecoder().decode(
        LRSchedule.self, from: Data(#"{"kind": "cosine", "warmup": 100}"#.utf8))
    #expect(s == LRSchedule(kind: .cosine, warmupSteps: 100))
    #expect(s.minFactor == 0 && s.pctStart == 0.3 && s.divFactor == 25 && s.finalDivFactor == 1e4)
    let empty = try JSONDecoder().decode(LRSchedule.self, from: Data("{}".utf8))
    #expect(empty == LRSchedule())
    let full = LRSchedule(
        kind: .onecycle, warmupSteps: 3, minFactor: 0.2, pctStart: 0.25, divFactor: 10,
        finalDivFactor: 100)
    #expect(try JSONDecoder().decode(LRSchedule.self, from: JSONEncoder().encode(full)) == full)
    #expect(throws: DecodingError.self) {
        try JSONDecoder().decode(LRSchedule.self, from: Data(#"{"kind": "linear"}"#.utf8))
    }
}

@Test func makeOptimizerPicksKind() {
    #expect(makeOptimizer(settings(.sgd)) is SGD)
    #expect(makeOptimizer(settings(.adamw)) is AdamW)
    #expect(makeOptimizer(settings(.lamb)) is LAMB)
    #expect(makeOptimizer(settings(.lamb)).settings.kind == .lamb)
}
