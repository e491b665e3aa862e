// swift-tools-version:6.0
import PackageDescription

/// The engine, the parser and the server run on one event-loop thread and
/// their hot paths are mostly class and struct field updates; run-time
/// exclusivity checks there cost more than the work itself (measured with
/// ChanBench and callgrind on the daemon). Debug builds keep the checks.
let loopConfined: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "chand",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "chand", targets: ["chand"]),
        .library(name: "ChanCore", targets: ["ChanCore"]),
        .library(name: "ChanClient", targets: ["ChanClient"]),
        .executable(name: "chan", targets: ["chan"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // libuv, from the system (Debian: libuv1-dev). Only ChanServer imports it.
        .systemLibrary(
            name: "CLibUV",
            pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]
        ),
        // OpenSSL, from the system (Debian: libssl-dev): TLS for ChanTLS, scrypt, SHA-256 and random bytes for ChanAuth.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // Users, secrets and channel grants: the users file, scrypt hashes, permission checks. No I/O but reading the file.
        .target(name: "ChanAuth", dependencies: ["COpenSSL"]),
        // One TLS connection over memory buffers (ciphertext in, plaintext out and back); no sockets, no loop.
        .target(name: "ChanTLS", dependencies: ["COpenSSL"]),
        // The channel engine: tasklets, channels, chanops, select, scheduler. No I/O.
        // Its queues are its own: intrusive lists for O(1) removal of a chanop
        // by identity without reference counting, and a byte ring that packs
        // buffered values (measured: 20 bytes for a 16-byte value).
        .target(name: "ChanCore", swiftSettings: loopConfined),
        // The wire protocol, both ways: command parser and reply encoder for the server, request encoder and
        // reply parser for clients, the name rule, error codes and the INFO counters. No I/O.
        .target(name: "ChanProtocol", dependencies: ["ChanCore"], swiftSettings: loopConfined),
        // One connection's logic without its socket: commands run against the
        // engine, replies, flow control, end of input. No I/O.
        .target(
            name: "ChanSession",
            dependencies: ["ChanCore", "ChanProtocol", .product(name: "Logging", package: "swift-log")],
            swiftSettings: loopConfined
        ),
        // Durable channels: keeps the store in step with the engine's
        // durable buffers, and restores them at start. No I/O of its own.
        .target(name: "ChanDurability", dependencies: ["ChanCore", "ChanSession", "ChanStore"], swiftSettings: loopConfined),
        // The daemon's machinery: libuv loop, listener, connections, timers.
        .target(
            name: "ChanServer",
            dependencies: [
                "CLibUV", "ChanCore", "ChanProtocol", "ChanSession", "ChanDurability", "ChanStore", "ChanAuth", "ChanTLS",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: loopConfined
        ),
        .executableTarget(
            name: "chand",
            dependencies: [
                "ChanServer", "ChanProtocol", "ChanStore", "ChanAuth",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A blocking-socket client of the wire protocol, shared by the CLI, benchmarks and tests.
        .target(name: "ChanClient", dependencies: ["ChanCore", "ChanProtocol", "ChanTLS"]),
        // The command-line client: send, recv, select, make, close, stat, info, channels, ping, bench.
        .executableTarget(
            name: "chan",
            dependencies: ["ChanClient", "ChanProtocol", "ChanAuth", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The client library and the chan binary against the real daemon (the dependencies build both binaries).
        .testTarget(name: "ChanClientTests", dependencies: ["ChanClient", "chan", "chand", "TestCertificates"]),
        // ChanCore micro-benchmark (ping-pong, select fan-in, buffered throughput; the command parser by name).
        .executableTarget(name: "ChanBench", dependencies: ["ChanCore", "ChanProtocol"]),
        .testTarget(name: "ChanCoreTests", dependencies: ["ChanCore"]),
        .testTarget(name: "ChanProtocolTests", dependencies: ["ChanProtocol"]),
        // Sessions driven in-process, as wire transcripts (no sockets).
        .testTarget(name: "ChanSessionTests", dependencies: ["ChanSession", "ChanCore"]),
        .testTarget(name: "ChanAuthTests", dependencies: ["ChanAuth"]),
        // Handshakes between two in-process ends; certificates made with the openssl command.
        .testTarget(name: "ChanTLSTests", dependencies: ["ChanTLS", "TestCertificates"]),
        // The certificates every TLS test uses, made once per run with the openssl command.
        .target(name: "TestCertificates", path: "Tests/TestCertificates"),
        // Talks to the real chand binary over loopback (the dependency builds it).
        .testTarget(name: "ChanServerTests", dependencies: ["chand", "ChanTLS", "ChanAuth", "TestCertificates"]),
        // Durable channels' store: an append-only log of CRC-32C-checked
        // records in segment files, written and fsynced by a background
        // thread (group commit), compacted into snapshots by another. Chosen
        // over SQLite and LMDB by measurement (Benchmarks/STORE.md): the log
        // appends a 16-byte value for the cost of a memcpy on the calling
        // thread, where SQLite spends a B-tree insert and later a delete on
        // it, and either library would still need a thread of ours to keep
        // fsync off the loop. No dependency, no Foundation.
        .target(name: "ChanStore"),
        .testTarget(name: "ChanStoreTests", dependencies: ["ChanStore", "ChanStoreCrashWriter"]),
        // Appends/s and sync latency of the store under each fsync policy, and the longest caller pause.
        .executableTarget(name: "ChanStoreBench", dependencies: ["ChanStore"]),
        // Writes to a store under fsync always and reports each synced value:
        // the child process the kill -9 test kills.
        .executableTarget(name: "ChanStoreCrashWriter", dependencies: ["ChanStore"]),
    ],
    swiftLanguageModes: [.v6]
)
