extension ModelConfig {
    /// Matrix FLOPs (2 per multiply-add) of one forward pass of `batch` images of `spec`
    /// through a model of this architecture: the router covers `routerExperts(of: spec)`
    /// experts and each token runs `topK(of: spec)` of them. `spec` need not be one of
    /// `datasets` (FLOPs ratios of an adapted model against its source).
    public func forwardFLOPs(spec: DatasetSpec, batch: Int) -> Double {
        let config = self
        let np = Double((spec.height / config.patchSize) * (spec.width / config.patchSize))
        let n = np + 1
        let d = Double(config.width)
        var perToken = 0.0
        for l in 0..<config.depth {
            perToken += 2 * d * 3 * d + 2 * d * d + 4 * n * d
            if config.isMoEBlock(l) {
                let f = Double(config.expertHidden)
                perToken +=
                    2 * d * Double(config.routerExperts(of: spec))
                    + Double(config.topK(of: spec)) * 4 * d * f
            } else {
                perToken += 4 * d * Double(config.mlpRatio) * d
            }
        }
        let embed = 2 * Double(config.patchDim) * d * np
        let outputs = 2 * d * Double(spec.outputChannels)
        let head = spec.task == .classification ? outputs : outputs * np
        return Double(batch) * (perToken * n + embed + head)
    }
}
