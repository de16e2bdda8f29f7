// SPDX-License-Identifier: Apache-2.0
import CEchoCancel

extension EchoEngine {
    /// lc_echo_engine_name: a static C string for any raw value ("unknown" for one that
    /// names no engine).
    public static func staticName(_ raw: Int32) -> UnsafePointer<CChar> {
        guard EchoEngine(rawValue: raw) != nil else {
            let unknown: StaticString = "unknown"
            return UnsafeRawPointer(unknown.utf8Start).assumingMemoryBound(to: CChar.self)
        }
        return lcecho_engine_name(raw)
    }
}
