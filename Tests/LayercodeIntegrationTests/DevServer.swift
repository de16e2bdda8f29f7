// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest

/// Runs tools/devserver as a subprocess on a free loopback port for one test.
final class DevServer {
    let process = Process()
    let ready: [String: Any]
    let logURL: URL
    private let stdout = Pipe()

    var authorizeURL: String { ready["authorize_url"] as! String }
    var wsURL: String { ready["ws"] as! String }
    var caFile: String? { ready["ca_file"] as? String }

    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// The project's venv python (make test creates it); skips the test when it is missing.
    static func python() throws -> String {
        let venv = repoRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else {
            throw XCTSkip("no .venv: run `make test` (it installs the devserver's packages)")
        }
        return venv
    }

    init(_ arguments: [String] = []) throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("lc-devserver-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        logURL = dir.appendingPathComponent("log.jsonl")
        process.executableURL = URL(fileURLWithPath: try Self.python())
        process.arguments = [Self.repoRoot.appendingPathComponent("tools/devserver/devserver.py").path,
                             "--port", "0", "--log", logURL.path,
                             "--cert-dir", dir.appendingPathComponent("certs").path] + arguments
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first stdout line is the ready JSON.
        var line = Data()
        let handle = stdout.fileHandleForReading
        while true {
            let byte = handle.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([0x0A]) { break }
            line.append(byte)
        }
        guard let json = try JSONSerialization.jsonObject(with: line) as? [String: Any],
              json["event"] as? String == "ready" else {
            process.terminate()
            throw NSError(domain: "DevServer", code: 1,
                          userInfo: [NSLocalizedDescriptionKey: "devserver did not start"])
        }
        ready = json
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// The devserver's JSON-lines log.
    func log() -> [[String: Any]] {
        guard let text = try? String(contentsOf: logURL, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Client messages the server received, in order.
    func received() -> [[String: Any]] {
        log().filter { $0["kind"] as? String == "recv" }.compactMap { $0["msg"] as? [String: Any] }
    }
}
