// swift-tools-version:6.0
// SPDX-License-Identifier: Apache-2.0
// liblayercode: see doc/architecture.md for the layering. Dependencies point down only:
// Layercode (C exports) -> LayercodeAudio, LayercodeNet -> LayercodeCore (pure Swift).
import PackageDescription
import Foundation

// The echo canceller's WebRTC engine, chosen by which audio-processing package pkg-config
// finds (tools/build-embedded.sh makes the same choice): APM 1.x (AEC3), else Debian 12's
// APM 0.3 (legacy AEC), else none (speexdsp only). LCECHO_WEBRTC tells echo.cpp which.
func pkgConfig(_ args: [String]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["pkg-config"] + args
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self)
}

let echoWebRTC: (define: String, package: String, library: String)? =
    pkgConfig(["--exists", "webrtc-audio-processing-1"]) != nil
        ? ("1", "webrtc-audio-processing-1", "webrtc-audio-processing-1")
        : pkgConfig(["--exists", "webrtc-audio-processing"]) != nil
        ? ("3", "webrtc-audio-processing", "webrtc_audio_processing")
        : nil
// The APM headers as system headers (they do not build warning-free), defines as given.
let echoWebRTCFlags: [String] = echoWebRTC.flatMap { pkgConfig(["--cflags", $0.package]) }
    .map { $0.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { $0.hasPrefix("-I") ? "-isystem" + $0.dropFirst(2) : String($0) } } ?? []
var echoLinked: [LinkerSetting] = [.linkedLibrary("speexdsp"), .linkedLibrary("stdc++")]
if let webrtc = echoWebRTC { echoLinked.insert(.linkedLibrary(webrtc.library), at: 0) }

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
        // The echo canceller engines (C++ over WebRTC's APM and speexdsp) behind lc_echo.h.
        .target(name: "CEchoCancel",
                cxxSettings: [.define("LCECHO_WEBRTC", to: echoWebRTC?.define ?? "0"),
                              .unsafeFlags(["-fno-exceptions", "-fno-rtti"] + echoWebRTCFlags)],
                linkerSettings: echoLinked),
        // POSIX and Linux headers as one C module (Embedded Swift has no Glibc module).
        .systemLibrary(name: "CPosix"),
        // The public header, imported so the exports use the exact C types users see.
        .systemLibrary(name: "CLayercodeABI"),
        // C shims: OpenSSL macros, epoll/eventfd/timerfd; every symbol prefixed lcshim_.
        // Whole-number-ratio resampling (polyphase FIR), C so that its inner loop vectorises.
        .target(name: "CResample"),
        .target(name: "CLayercodeShims",
                cSettings: [.define("_GNU_SOURCE")],
                linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),

        // Pure Swift: protocol, JSON, codecs, state machine, rings. No I/O, no C.
        .target(name: "LayercodeCore"),
        // Sockets, TLS, HTTP/1.1, WebSocket, the event loop.
        .target(name: "LayercodeNet", dependencies: ["LayercodeCore", "CPosix", "CLayercodeShims"]),
        // Resampling, ALSA, external audio.
        .target(name: "LayercodeAudio",
                dependencies: ["LayercodeCore", "CPosix", "CSpeexDSP", "CResample", "CALSA", "COpus", "CEchoCancel"]),
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
    swiftLanguageModes: [.v5],
    cxxLanguageStandard: .cxx17
)
