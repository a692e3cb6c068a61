// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "moe",
    products: [
        .executable(name: "moe", targets: ["moe"]),
        .library(
            name: "MoEKit",
            targets: [
                "MoETensor", "MoEModel", "MoECheckpoint", "MoEData", "MoEOptim", "MoETasks",
                "MoEBalancing", "MoERecipe", "MoETraining", "MoEReporting", "MoEBench",
                "MoEAdaptation", "MoEImage", "MoEDataSources", "MoEProtobuf", "MoEExport",
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
        .systemLibrary(
            name: "CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"]), .yum(["libpng-devel"])]),
        .systemLibrary(
            name: "CJPEG", pkgConfig: "libjpeg",
            providers: [.apt(["libjpeg62-turbo-dev"]), .yum(["libjpeg-turbo-devel"])]),
        // Open MPI (`mpirun` from openmpi-bin); only MoEDistributed and its users link it.
        .systemLibrary(
            name: "CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"]), .yum(["openmpi-devel"])]),
        // C11 decoding functions that keep every libpng/libjpeg call and its setjmp together,
        // so no longjmp crosses a Swift frame.
        .target(name: "CImageShim", dependencies: ["CPNG", "CJPEG"]),
        // C11 AVX2/FMA kernels (GELU, fused attention) behind function-level target
        // attributes, picked at run time by MoETensor (no -march flag for the package).
        .target(name: "CKernels"),

        // One-way layers: tensors + kernels -> model -> optimisers, tasks, data -> balancing
        // -> recipe -> training -> bench, adaptation -> commands -> executable. Reporting
        // (SVG plots) takes plain arrays and depends on nothing.
        .target(name: "MoETensor", dependencies: ["COpenBLAS", "CKernels"]),
        .target(name: "MoEModel", dependencies: ["MoETensor"]),
        .target(name: "MoECheckpoint", dependencies: ["MoETensor", "CZstd"]),
        .target(name: "MoEData", dependencies: ["MoETensor", "CZlib"]),
        .target(name: "MoEOptim", dependencies: ["CKernels", "MoETensor", "MoEModel"]),
        .target(name: "MoETasks", dependencies: ["MoETensor", "MoEModel", "MoEData"]),
        .target(name: "MoEBalancing", dependencies: ["MoETensor", "MoEModel", "MoEData", "MoEOptim", "MoETasks"]),
        .target(
            name: "MoERecipe",
            dependencies: [
                "MoETensor", "MoEModel", "MoEData", "MoEOptim", "MoEBalancing",
                .product(name: "Yams", package: "Yams"),
            ]),
        .target(
            name: "MoETraining",
            dependencies: [
                "MoETensor", "MoEModel", "MoECheckpoint", "MoEData", "MoEOptim", "MoETasks",
                "MoEBalancing", "MoERecipe", "MoEDataSources", "MoEImage", "MoEProtobuf",
            ]),
        .target(name: "MoEReporting"),
        // The protobuf wire format (TensorBoard events, ONNX models); depends on nothing.
        .target(name: "MoEProtobuf"),
        // ONNX export of one dataset's path through a model (DESIGN §2.7).
        .target(name: "MoEExport", dependencies: ["MoETensor", "MoEModel", "MoETasks", "MoEProtobuf"]),
        // PNG/JPEG decoding (Pillow-compatible pixels) and resizing; depends on no moe module.
        .target(name: "MoEImage", dependencies: ["CImageShim"]),
        // Users' own data (ImageFolder, COCO JSON, image/mask folders), decoded in parallel.
        .target(name: "MoEDataSources", dependencies: ["MoETensor", "MoEData", "MoEImage", "CZstd"]),
        .target(
            name: "MoEBench",
            dependencies: [
                "MoETensor", "MoEModel", "MoEData", "MoEOptim", "MoEBalancing", "MoERecipe", "MoETraining",
            ]),
        // adaptation & continual learning: policies over the model's surgery mechanisms
        .target(
            name: "MoEAdaptation",
            dependencies: ["MoETensor", "MoEModel", "MoEOptim", "MoERecipe", "MoETraining"]),
        .target(
            name: "MoECommands",
            dependencies: [
                "MoETensor", "MoEModel", "MoECheckpoint", "MoEData", "MoEOptim", "MoETasks",
                "MoEBalancing", "MoERecipe", "MoETraining", "MoEReporting", "MoEBench",
                "MoEAdaptation", "MoEDataSources", "MoEImage", "MoEExport", "MoEDataParallel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "moe", dependencies: ["MoECommands"]),

        // The only code that touches MPI (DESIGN §11): a Communicator over Open MPI, and a
        // self-check run under mpirun by the tests.
        .target(name: "MoEDistributed", dependencies: ["CMPI"]),
        .executableTarget(name: "moe-mpi-check", dependencies: ["MoEDistributed"]),
        // Data-parallel training: an MPI communicator as MoETraining's `Collective`, so the
        // training library itself never links MPI.
        .target(name: "MoEDataParallel", dependencies: ["MoEDistributed", "MoETraining"]),

        // What the fuzzers exercise, as plain functions (replayed by the tests).
        .target(
            name: "MoEFuzzing",
            dependencies: ["MoEModel", "MoECheckpoint", "MoEData", "MoEDataSources", "MoERecipe", "MoETraining"]),

        .target(name: "MoETestSupport", dependencies: ["MoETensor"]),
        .testTarget(name: "MoETensorTests", dependencies: ["MoETensor", "MoETestSupport"]),
        .testTarget(name: "MoEModelTests", dependencies: ["MoETensor", "MoEModel"]),
        .testTarget(
            name: "MoECheckpointTests", dependencies: ["MoETensor", "MoECheckpoint", "MoETestSupport"]),
        .testTarget(name: "MoEDataTests", dependencies: ["MoETensor", "MoEData"]),
        .testTarget(name: "MoEImageTests", dependencies: ["MoEImage"]),
        .testTarget(
            name: "MoEDataSourcesTests",
            dependencies: [
                "MoETensor", "MoEModel", "MoEData", "MoEImage", "MoEDataSources", "MoERecipe", "MoETraining",
                "MoETestSupport",
            ]),
        .testTarget(
            name: "MoETrainingTests",
            dependencies: [
                "MoETensor", "MoEModel", "MoECheckpoint", "MoEData", "MoEOptim", "MoETasks",
                "MoEBalancing", "MoERecipe", "MoETraining", "MoEReporting", "MoEFuzzing", "MoETestSupport",
                "MoEProtobuf", "MoEDataSources", "MoEImage",
            ],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "MoEDistributedTests", dependencies: ["MoETestSupport", "MoETensor", "MoECheckpoint"]),
        .testTarget(
            name: "MoEExportTests",
            dependencies: ["MoETensor", "MoEModel", "MoETasks", "MoEProtobuf", "MoEExport"]),
        .testTarget(
            name: "MoECommandsTests",
            dependencies: [
                "MoETensor", "MoECheckpoint", "MoEData", "MoETasks", "MoERecipe", "MoETraining",
                "MoEAdaptation", "MoECommands", "MoETestSupport", "MoEModel", "MoEImage", "MoEBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(
            name: "MoEAdaptationTests",
            dependencies: [
                "MoETensor", "MoEModel", "MoECheckpoint", "MoEData", "MoERecipe", "MoETraining",
                "MoEAdaptation", "MoETestSupport",
            ]),

        // An example continual-learning extension built on the public MoEAdaptation API.
        .target(
            name: "ExpertInitExample", dependencies: ["MoETensor", "MoEAdaptation"],
            path: "Examples/ExpertInitExample/Sources"),
        .testTarget(
            name: "ExpertInitExampleTests", dependencies: ["MoETensor", "MoEAdaptation", "ExpertInitExample"],
            path: "Examples/ExpertInitExample/Tests"),
    ],
    cLanguageStandard: .c11
)

// libFuzzer driver, only when asked for (it has no `main`: libFuzzer provides it):
// MOE_FUZZ=1 swift build -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product moe-fuzz
if Context.environment["MOE_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "moe-fuzz", dependencies: ["MoEFuzzing"], path: "Fuzz/moe-fuzz"))
    package.products.append(.executable(name: "moe-fuzz", targets: ["moe-fuzz"]))
}
