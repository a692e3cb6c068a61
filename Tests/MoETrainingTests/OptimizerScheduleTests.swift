import Foundation
import MoETensor
import Testing

@testable import MoEOptim
@testable import MoETraining

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
    let total = 100
    let peak: Float = 2
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
