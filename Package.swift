// swift-tools-version:6.0
// SPDX-License-Identifier: Apache-2.0
// liblayercode: see doc/architecture.md for the layering. Dependencies point down only:
// Layercode (C exports) -> LayercodeAudio, LayercodeNet -> LayercodeCore (pure Swift).
import PackageDescription

let package = Package(
    name: "liblayercode",
    products: [
        .library(name: "layercode", type: .dynamic, targets: ["Layercode"]),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(name: "CALSA", pkgConfig: "alsa",
                       providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "COpus", pkgConfig: "opus",
                       providers: [.apt(["libopus-dev"])]),
        .systemLibrary(name: "CSpeexDSP", pkgConfig: "speexdsp",
                       providers: [.apt(["libspeexdsp-dev"])]),
        // POSIX and Linux headers as one C module (Embedded Swift has no Glibc module).
        .systemLibrary(name: "CPosix"),
        // The public header, imported so the exports use the exact C types users see.
        .systemLibrary(name: "CLayercodeABI"),
        // C shims: OpenSSL macros, epoll/eventfd/timerfd; every symbol prefixed lcshim_.
        .target(name: "CLayercodeShims",
                cSettings: [.define("_GNU_SOURCE")],
                linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),

        // Pure Swift: protocol, JSON, codecs, state machine, rings. No I/O, no C.
        .target(name: "LayercodeCore"),
        // Sockets, TLS, HTTP/1.1, WebSocket, the event loop.
        .target(name: "LayercodeNet", dependencies: ["LayercodeCore", "CPosix", "CLayercodeShims"]),
        // Resampling, ALSA, external audio.
        .target(name: "LayercodeAudio",
                dependencies: ["LayercodeCore", "CPosix", "CSpeexDSP", "CALSA", "COpus"]),
        // The C ABI.
        .target(name: "Layercode",
                dependencies: ["LayercodeCore", "LayercodeNet", "LayercodeAudio", "CPosix", "CLayercodeABI", "CALSA"],
                exclude: ["exports.map"]),

        // Benchmarks (make bench): not part of the library.
        .executableTarget(name: "layercode-microbench",
                          dependencies: ["LayercodeCore", "LayercodeAudio", "CPosix"], path: "bench/micro"),
        .executableTarget(name: "layercode-loopbench", dependencies: ["LayercodeNet"],
                          path: "bench/loop"),
        // WebSocket conformance echo client (make conformance): not part of the library.
        .executableTarget(name: "layercode-wsecho",
                          dependencies: ["LayercodeCore", "LayercodeNet"], path: "tools/wsecho"),

        .testTarget(name: "LayercodeCoreTests", dependencies: ["LayercodeCore"]),
        .testTarget(name: "LayercodeAudioTests", dependencies: ["LayercodeAudio", "LayercodeCore"]),
        .testTarget(name: "LayercodeIntegrationTests",
                    dependencies: ["Layercode", "LayercodeCore", "LayercodeNet", "LayercodeAudio"]),
    ],
    swiftLanguageModes: [.v5]
)
