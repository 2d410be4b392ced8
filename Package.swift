// swift-tools-version: 6.0
import PackageDescription

// The engine's element-wise kernels are written with SIMD types; built for baseline x86-64 they compile to
// 4-wide SSE and scalar square roots. Haswell-level code (AVX2 + FMA, every x86 server CPU since 2013) makes them
// 8-wide. The BLAS GEMMs choose their own kernels at run time and are unaffected.
#if arch(x86_64)
let engineFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let engineFlags: [SwiftSetting] = []
#endif

let package = Package(
    name: "Sequent",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sequent", targets: ["sequent"]),
        .library(name: "SequentNN", targets: ["SequentNN"]),
        .library(name: "SequentData", targets: ["SequentData"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
    ],
    targets: [
        // System libraries (Debian packages; see README and .ci/run).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CPostgres", path: "Sources/CPostgres", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
                       providers: [.apt(["libhdf5-dev"])]),

        // Tiny C helpers Swift cannot express (floating-point control flags).
        .target(name: "CSequentSupport", path: "Sources/CSequentSupport",
                // Without errno semantics sqrtf is a single vector instruction, so the update loops vectorise.
                cSettings: [.unsafeFlags(["-fno-math-errno", "-O3"])]),
        .target(name: "SequentNN", dependencies: ["CBLAS", "CSequentSupport"], swiftSettings: engineFlags),
        .target(name: "CImageCodecs", path: "Sources/CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        .target(name: "SequentData", dependencies: ["SequentNN", "CZlib", "CArchive", "CImageCodecs"]),
        .target(name: "SequentStore", dependencies: ["CSQLite", "CCrypto"]),
        // ONNX export (issue "Interchange"); Generated/onnx.pb.swift is committed, the protoc plugin is not a build step.
        .target(name: "SequentONNX", dependencies: [
            "SequentNN", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], exclude: ["Generated/NOTICE", "Generated/LICENSE-onnx.txt"]),
        // The cluster store (issue 13): the same records in PostgreSQL, through libpq.
        .target(name: "SequentPostgres", dependencies: ["CPostgres", "SequentStore"]),
        // Models in and out (issue 16): Keras's .keras / .weights.h5 through libhdf5.
        .target(name: "SequentInterchange", dependencies: ["SequentNN", "CHDF5"]),
        .target(name: "SequentService", dependencies: [
            "SequentStore", "SequentPostgres", "SequentHTTP",
            "SequentNN", "SequentData", "SequentInterchange", "SequentONNX", "CCrypto",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "sequent", dependencies: [
            "SequentService", "SequentNN", "SequentData",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .target(name: "SequentHTTP", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "fuzz-http", dependencies: ["SequentHTTP"], path: "Sources/fuzz-http"),
        .executableTarget(name: "fuzz-images", dependencies: ["SequentData"], path: "Sources/fuzz-images"),
        .testTarget(name: "SequentHTTPTests", dependencies: ["SequentHTTP"]),
        .testTarget(name: "SequentNNTests", dependencies: ["SequentNN"]),
        .testTarget(name: "SequentDataTests", dependencies: ["SequentData"]),
        .testTarget(name: "SequentONNXTests", dependencies: ["SequentONNX", "SequentNN"]),
        .testTarget(name: "SequentServiceTests", dependencies: ["SequentService"]),
        .testTarget(name: "SequentInterchangeTests", dependencies: ["SequentInterchange"]),
        // The PostgreSQL test cluster's helpers, for the contract suite and the PostgreSQL tests alike.
        .target(name: "PostgresTestSupport", dependencies: ["SequentPostgres"], path: "Tests/PostgresTestSupport"),
        .testTarget(name: "SequentStoreTests", dependencies: ["SequentStore", "SequentPostgres", "PostgresTestSupport"]),
        .testTarget(name: "SequentPostgresTests", dependencies: ["SequentPostgres", "PostgresTestSupport"]),
    ]
)
