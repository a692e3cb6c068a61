import Foundation
import MoETensor
import Testing

@testable import MoETraining

// MARK: - helpers

func randomValues(_ count: Int, _ rng: inout SeededGenerator, scale: Float = 1) -> [Float] {
    (0..<count).map { _ in (rng.uniform() * 2 - 1) * scale }
}

func setGrad(_ store: ParameterStore, _ name: String, _ values: [Float]) {
    let id = try! store.id(name)
    let shape = store[id].value.shape
    store[id].grad = Tensor(shape: shape, storage: values)
}

func value(_ store: ParameterStore, _ name: String) -> [Float] {
    try! store.parameter(named: name).value.storage
}

/// A deep copy of `store` (values, flags; gradients zero).
func copyStore(_ store: ParameterStore) -> ParameterStore {
    let copy = ParameterStore()
    for p in store.parameters {
        copy.add(p.name, p.value, isTrainable: p.isTrainable, decays: p.decays)
    }
    return copy
}

func expectClose(
    _ actual: [Float], _ expected: [Double], rel: Double = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (a, e) in zip(actual, expected) {
        let err = abs(Double(a) - e) / max(abs(e), 1e-3)
        #expect(err <= rel, "got \(a), expected \(e)", sourceLocation: sourceLocation)
    }
}

func settings(_ kind: OptimizerKind, lr: Float = 0.01, wd: Float = 0.1) -> OptimizerSettings {
    OptimizerSettings(kind: kind, learningRate: lr, weightDecay: wd)
}

// MARK: - references

struct AdamWCase: Sendable, CustomTestStringConvertible {
    var decays: Bool
    var lr: Float
    var wd: Float
    var testDescription: String { "decays=\(decays) lr=\(lr) wd=\(wd)" }
}

@Test(arguments: [
    AdamWCase(decays: true, lr: 1e-2, wd: 0.05),
    AdamWCase(decays: false, lr: 1e-2, wd: 0.05),
    AdamWCase(decays: true, lr: 3e-3, wd: 0.5),
])
func adamWMatchesReference(_ c: AdamWCase) {
    var rng = SeededGenerator(seed: 11)
    let n = 21  // two SIMD blocks of 8 and a scalar tail of 5
    let theta0 = randomValues(n, &rng)
    let grads = (0..<3).map { _ in randomValues(n, &rng, scale: 2) }
    let s = OptimizerSettings(
        kind: .adamw, learningRate: 99, weightDecay: c.wd, beta1: 0.9, beta2: 0.99,
        epsilon: 1e-8)
    let store = ParameterStore()
    store.add("w", Tensor(shape: [n], storage: theta0), decays: c.decays)
    var opt = AdamW(settings: s)

    // Reference in Double.
    var th = theta0.map(Double.init)
    var m = [Double](repeating: 0, count: n)
    var v = [Double](repeating: 0, count: n)
    let (b1, b2, eps, lr) = (0.9, 0.99, Double(Float(1e-8)), Double(c.lr))
    let wd = c.decays ? Double(c.wd) : 0
    for t in 1...3 {
        let g = grads[t - 1].map(Double.init)
        for i in 0..<n {
            th[i] -= lr * wd * th[i]
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            let mh = m[i] / (1 - pow(b1, Double(t)))
            let vh = v[i] / (1 - pow(b2, Double(t)))
            th[i] -= lr * mh / (vh.squareRoot() + eps)
        }
        setGrad(store, "w", grads[t - 1])
        opt.step(store, lr: c.lr)
        expectClose(value(store, "w"), th)
    }
    #expect(opt.stepCount == 3)
}

struct SGDCase: Sendable, CustomTestStringConvertible {
    var momentum: Float
    var nesterov: Bool
    var decays: Bool
    var testDescription: String { "μ=\(momentum) nesterov=\(nesterov) decays=\(decays)" }
}

@Test(arguments: [
    SGDCase(momentum: 0.9, nesterov: false, decays: true),
    SGDCase(momentum: 0.9, nesterov: true, decays: true),
    SGDCase(momentum: 0.8, nesterov: true, decays: false),
    SGDCase(momentum: 0, nesterov: false, decays: true),
])
func sgdMatchesReference(_ c: SGDCase) {
    var rng = SeededGenerator(seed: 12)
    let n = 11
    let theta0 = randomValues(n, &rng)
    let grads = (0..<3).map { _ in randomValues(n, &rng) }
    let s = OptimizerSettings(
        kind: .sgd, weightDecay: 0.1, momentum: c.momentum, nesterov: c.nesterov)
    let store = ParameterStore()
    store.add("w", Tensor(shape: [n], storage: theta0), decays: c.decays)
    var opt = SGD(settings: s)
    let lr = 0.05
    let mu = Double(c.momentum)
    let wd = c.decays ? Double(Float(0.1)) : 0
    var th = theta0.map(Double.init)
    var b = [Double](repeating: 0, count: n)
    for t in 0..<3 {
        for i in 0..<n {
            let g = Double(grads[t][i]) + wd * th[i]
            b[i] = mu * b[i] + g
            th[i] -= lr * (c.nesterov ? g + mu * b[i] : b[i])
        }
        setGrad(store, "w", grads[t])
        opt.step(store, lr: Float(lr))
        expectClose(value(store, "w"), th)
    }
    #expect(opt.stateTensors().count == (c.momentum == 0 ? 0 : 1))
}

// MARK: - LAMB

@Test func lambTrustRatioHandWorked() {
    // θ = [3, 4] (‖θ‖ = 5), g = [1, 1]: first step m̂ = g, v̂ = g², so r ≈ [1, 1] (+ λθ).
    let lr: Float = 0.1
    do {  // no decay: r = [1, 1], ‖r‖ = √2, trust = 5/√2.
        let store = ParameterStore()
        store.add("w", Tensor(shape: [2], storage: [3, 4]))
        setGrad(store, "w", [1, 1])
        var opt = LAMB(settings: settings(.lamb, wd: 0))
        opt.step(store, lr: lr)
        let d = 0.1 * 5 / 2.0.squareRoot()
        expectClose(value(store, "w"), [3 - d, 4 - d])
    }
    do {  // decay 0.1: r = [1.3, 1.4], trust = 5/√3.65.
        let store = ParameterStore()
        store.add("w", Tensor(shape: [2], storage: [3, 4]))
        setGrad(store, "w", [1, 1])
        var opt = LAMB(settings: settings(.lamb, wd: 0.1))
        opt.step(store, lr: lr)
        let trust = 5 / 3.65.squareRoot()
        expectClose(value(store, "w"), [3 - 0.1 * trust * 1.3, 4 - 0.1 * trust * 1.4])
    }
    do {  // ‖θ‖ = 0: trust = 1, θ = −lr·r.
        let store = ParameterStore()
        store.add("w", Tensor(shape: [2], storage: [0, 0]))
        setGrad(store, "w", [1, -2])
        var opt = LAMB(settings: settings(.lamb, wd: 0.1))
        opt.step(store, lr: lr)
        expectClose(value(store, "w"), [-0.1, 0.1])
    }
    do {  // ‖r‖ = 0 (zero grad, no decay): trust = 1 and θ unchanged.
        let store = ParameterStore()
        store.add("w", Tensor(shape: [2], storage: [3, 4]))
        var opt = LAMB(settings: settings(.lamb, wd: 0))
        opt.step(store, lr: lr)
        #expect(value(store, "w") == [3, 4])
    }
    #expect(LAMB.trustRatio(weightNorm: 5, updateNorm: 2) == 2.5)
    #expect(LAMB.trustRatio(weightNorm: 0, updateNorm: 2) == 1)
    #expect(LAMB.trustRatio(weightNorm: 5, updateNorm: 0) == 1)
}

@Test(arguments: [(true, Float(0.1)), (false, Float(0.1)), (true, Float(0))])
func lambMatchesReference(decays: Bool, wd: Float) {
    var rng = SeededGenerator(seed: 13)
    let n = 19
    let theta0 = randomValues(n, &rng)
    let grads = (0..<3).map { _ in randomValues(n, &rng, scale: 2) }
    let store = ParameterStore()
    store.add("w", Tensor(shape: [n], storage: theta0), decays: decays)
    var opt = LAMB(settings: OptimizerSettings(kind: .lamb, weightDecay: wd, beta2: 0.99))
    var th = theta0.map(Double.init)
    var m = [Double](repeating: 0, count: n)
    var v = [Double](repeating: 0, count: n)
    let (b1, b2, eps, lr) = (Double(Float(0.9)), Double(Float(0.99)), Double(Float(1e-8)), 0.02)
    let lambda = decays ? Double(wd) : 0
    for t in 1...3 {
        var r = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let g = Double(grads[t - 1][i])
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            let mh = m[i] / (1 - pow(b1, Double(t)))
            let vh = v[i] / (1 - pow(b2, Double(t)))
            r[i] = mh / (vh.squareRoot() + eps) + lambda * th[i]
        }
        let wn = th.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let rn = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let trust = wn > 0 && rn > 0 ? wn / rn : 1
        for i in 0..<n { th[i] -= lr * trust * r[i] }
        setGrad(store, "w", grads[t - 1])
        opt.step(store, lr: Float(lr))
        expectClose(value(store, "w"), th, rel: 2e-6)
    }
}

@Test func lambTrustRatioIsPerParameter() {
    // Two tensors with gradients of very different scale move by the same relative amount.
    let store = ParameterStore()
    store.add("a", Tensor(shape: [2], storage: [3, 4]))
    store.add("b", Tensor(shape: [2], storage: [30, 40]))
    setGrad(store, "a", [100, 100])
    setGrad(store, "b", [0.01, 0.01])
    var opt = LAMB(settings: settings(.lamb, wd: 0))
    opt.step(store, lr: 0.1)
    let a = value(store, "a"), b = value(store, "b")
    #expect(abs((3 - a[0]) / 5 - (30 - b[0]) / 50) < 1e-6)
}

// MARK: - frozen and non-decaying parameters

@Test(arguments: OptimizerKind.allCases)
func frozenParametersAreBitIdentical(_ kind: OptimizerKind) {
    var rng = SeededGenerator(seed: 21)
    let store = ParameterStore()
    let frozen0 = randomValues(6, &rng)
    let trained0 = randomValues(6, &rng)
    store.add("trained", Tensor(shape: [2, 3], storage: trained0))
    store.add("frozen", Tensor(shape: [2, 3], storage: frozen0), isTrainable: false)
    var opt = makeOptimizer(settings(kind, lr: 0.1, wd: 0.5))
    for _ in 0..<5 {
        setGrad(store, "trained", randomValues(6, &rng))
        setGrad(store, "frozen", randomValues(6, &rng))
        opt.step(store, lr: 0.1)
    }
    #expect(value(store, "frozen").map(\.bitPattern) == frozen0.map(\.bitPattern))
    #expect(zip(value(store, "trained"), trained0).allSatisfy { $0 != $1 })
    #expect(!opt.stateTensors().contains { $0.name.hasSuffix(".frozen") })
    #expect(opt.stateTensors().contains { $0.name.hasSuffix(".trained") })
}

@Test(arguments: OptimizerKind.allCases)
func nonDecayingParameterGetsNoDecay(_ kind: OptimizerKind) {
    var rng = SeededGenerator(seed: 22)
    let v0 = randomValues(8, &rng)
    let store = ParameterStore()
    store.add("bias", Tensor(shape: [8], storage: v0), decays: false)
    store.add("weight", Tensor(shape: [8], storage: v0), decays: true)
    var opt = makeOptimizer(settings(kind, lr: 0.1, wd: 0.5))
    for _ in 0..<5 { opt.step(store, lr: 0.1) }  // zero gradients
    #expect(value(store, "bias").map(\.bitPattern) == v0.map(\.bitPattern))
    // The decaying twin shrinks toward zero.
    let shrunk = zip(value(store, "weight"), v0).allSatisfy { abs($0) < abs($1) }
    #expect(shrunk)
}

// MARK: - clipping

@Test func clippingNormAndScaling() {
    let store = ParameterStore()
    store.add("a", Tensor(shape: [2], storage: [0, 0]))
    store.add("b", Tensor(shape: [1], storage: [0]))
    store.add("frozen", Tensor(shape: [2], storage: [0, 0]), isTrainable: false)
    setGrad(store, "a", [3, 4])
    setGrad(store, "b", [12])
    setGrad(store, "frozen", [1000, 1000])
    #expect(GradientClipping.globalNorm(store) == 13)

    // No-op at or below the max, and when off.
    #expect(GradientClipping.clip(store, maxNorm: 20) == 13)
    #expect(GradientClipping.clip(store, maxNorm: 0) == 13)
    #expect(try! store.parameter(named: "a").grad.storage == [3, 4])
    #expect(try! store.parameter(named: "b").grad.storage == [12])

    // Scaled to the max norm; frozen gradient untouched.
    #expect(GradientClipping.clip(store, maxNorm: 1.3) == 13)
    let scale = Float(1.3) / (13 + 1e-6)
    #expect(try! store.parameter(named: "a").grad.storage == [3 * scale, 4 * scale])
    #expect(try! store.parameter(named: "b").grad.storage == [12 * scale])
    #expect(abs(GradientClipping.globalNorm(store) - 1.3) < 1e-5)
    #expect(try! store.parameter(named: "frozen").grad.storage == [1000, 1000])
}

@Test func globalNormOfLargeTensorsIsExactAndThreadIndependent() {
    // Several reduction blocks plus a ragged tail.
    var rng = SeededGenerator(seed: 51)
    let store = ParameterStore()
    let n = 3 * OptimKernels.blockSize + 13
    let g = randomValues(n, &rng)
    store.add("big", Tensor(shape: [n]))
    store.add("small", Tensor(shape: [5]))
    setGrad(store, "big", g)
    setGrad(store, "small", [1, 2, 3, 4, 5])
    let reference = (g.reduce(0.0) { $0 + Double($1) * Double($1) } + 55).squareRoot()
    let saved = Parallel.threads
    defer { Parallel.threads = saved }
    Parallel.threads = 1
    let one = GradientClipping.globalNorm(store)
    Parallel.threads = 2
    let two = GradientClipping.globalNorm(store)
    #expect(one.bitPattern == two.bitPattern)
    #expect(abs(Double(one) - reference) / reference < 1e-6)
}

@Test func clipGradientsAndStepUsesSettings() {
    let store = ParameterStore()
    store.add("a", Tensor(shape: [2], storage: [1, 1]))
    setGrad(store, "a", [30, 40])
    var opt = makeOptimizer(
        OptimizerSettings(kind: .sgd, weightDecay: 0, momentum: 0, clipNorm: 5))
    let norm = opt.clipGradientsAndStep(store, lr: 1)
    #expect(norm == 50)
    expectClose(value(store, "a"), [1 - 3, 1 - 4], rel: 1e-5)
}

// MARK: - schedules

@Test func constantSchedule() {
    let s = LRSchedule()
    for step in [0, 1, 50, 99, 1000] {
        #expect(s.learningRate(step: step, totalSteps: 100, peakLR: 0.5) == 0.5)
    }
    let w = LRSchedule(kind: .constant, warmupSteps: 4)
    let lrs = (0..<8).map { w.learningRate(step: $0, totalSteps: 100, peakLR: 1) }
    #expect(lrs == [0.25, 0.5, 0.75, 1, 1, 1, 1, 1])
}

@Test(arguments: [0, 1, 10])
func cosineSchedule(warmup: Int) {
    let s = LRSchedule(kind: .cosine, warmupSteps: warmup, minFactor: 0.1)
    let total = 100, peak: Float = 2
    let lrs = (0..<total).map { s.learningRate(step: $0, totalSteps: total, peakLR: peak) }
    if warmup > 0 {
        #expect(lrs[0] == peak / Float(warmup))
        #expect(lrs[warmup - 1] == peak)
        for i in 1..<warmup { #expect(lrs[i] > lrs[i - 1]) }
    } else {
        #expect(lrs[0] == peak)
    }
    #expect(abs(lrs[total - 1] - 0.1 * peak) < 1e-6)
    let start = max(warmup - 1, 0)
    for i in (start + 1)..<total { #expect(lrs[i] < lrs[i - 1]) }
    #expect(s.learningRate(step: total + 5, totalSteps: total, peakLR: peak) == lrs[total - 1])
    // Midpoint of the decay is halfway between peak and min.
    if warmup == 1 {
        let mid = s.learningRate(step: 0 + 99 / 2, totalSteps: total, peakLR: peak)
        #expect(abs(mid - (0.1 * peak + 0.9 * peak * 0.5 * Float(1 + cos(Double.pi * 49 / 99)))) < 1e-6)
    }
}

@Test func oneCycleSchedule() {
    // torch OneCycleLR(max_lr=1, total_steps=100, pct_start=0.3, three_phase=False,
    // anneal_strategy='linear'): 0.04 at 0, 1 at step 29, 0.04/1e4 at step 99.
    let s = LRSchedule(kind: .onecycle)
    let total = 100
    let lrs = (0..<total).map { s.learningRate(step: $0, totalSteps: total, peakLR: 1) }
    #expect(abs(lrs[0] - 0.04) < 1e-7)
    #expect(lrs[29] == 1)
    #expect(abs(lrs[99] - 4e-6) < 1e-9)
    for i in 1...29 { #expect(lrs[i] > lrs[i - 1]) }
    for i in 30..<total { #expect(lrs[i] < lrs[i - 1]) }
    // Linear: step 10 of the rise.
    #expect(abs(lrs[10] - (0.04 + 0.96 * 10 / 29)) < 1e-6)
    // Warm-up has no effect on onecycle.
    var w = s
    w.warmupSteps = 50
    #expect(w.learningRate(step: 3, totalSteps: total, peakLR: 1) == lrs[3])
}

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
    let all = #"{"kind":"sgd","lr":0.1,"weightDecay":0,"beta1":0.8,"beta2":0.9,"eps":1e-6,"momentum":0.5,"nesterov":true,"clip":2}"#
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
