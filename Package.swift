// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "moe",
    products: [
        .executable(name: "moe", targets: ["moe"]),
        .library(
            name: "MoEKit",
            targets: [
                "MoETensor", "MoEModel", "MoECheckpoint", "MoEData", "MoETraining", "MoEAdaptation",
            ]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C libraries, found with pkg-config; the providers tell a user what to install.
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .yum(["openblas-devel"])]),
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .yum(["libzstd-devel"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .yum(["zlib-devel"])]),

        // tensors + kernels -> model -> training -> commands -> executable
        .target(name: "MoETensor", dependencies: ["COpenBLAS"]),
        .target(name: "MoEModel", dependencies: ["MoETensor"]),
        .target(name: "MoECheckpoint", dependencies: ["MoETensor", "CZstd"]),
        .target(name: "MoEData", dependencies: ["MoETensor", "CZlib"]),
        .target(
            name: "MoETraining",
            dependencies: [
                "MoEModel", "MoECheckpoint", "MoEData",
                .product(name: "Yams", package: "Yams"),
            ]),
        // adaptation & continual learning: policies over the model's surgery mechanisms
        .target(name: "MoEAdaptation", dependencies: ["MoETraining"]),
        .target(
            name: "MoECommands",
            dependencies: [
                "MoETraining", "MoEAdaptation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "moe", dependencies: ["MoECommands"]),

        .target(name: "MoETestSupport", dependencies: ["MoETensor"]),
        .testTarget(name: "MoETensorTests", dependencies: ["MoETensor", "MoETestSupport"]),
        .testTarget(name: "MoEModelTests", dependencies: ["MoEModel", "MoETestSupport"]),
        .testTarget(name: "MoECheckpointTests", dependencies: ["MoECheckpoint"]),
        .testTarget(name: "MoEDataTests", dependencies: ["MoEData"]),
        .testTarget(
            name: "MoETrainingTests", dependencies: ["MoETraining", "MoETestSupport"]),
        .testTarget(name: "MoECommandsTests", dependencies: ["MoECommands", "MoETestSupport"]),
        .testTarget(
            name: "MoEAdaptationTests", dependencies: ["MoEAdaptation", "MoETestSupport"]),

        // An example continual-learning extension built on the public MoEAdaptation API.
        .target(name: "ExpertInitExample", dependencies: ["MoEAdaptation"], path: "Examples/ExpertInitExample/Sources"),
        .testTarget(
            name: "ExpertInitExampleTests", dependencies: ["ExpertInitExample"],
            path: "Examples/ExpertInitExample/Tests"),
    ]
)
