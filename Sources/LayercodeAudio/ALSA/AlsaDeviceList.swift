// SPDX-License-Identifier: Apache-2.0
import CALSA
import CPosix

/// One PCM that ALSA's configuration names (as `aplay -L` lists them).
public struct AlsaDeviceInfo: Sendable, Equatable {
    /// What to pass as `AlsaPCM.Config.device`, e.g. `null`, `default`, `plughw:CARD=USB,DEV=0`.
    public var name: String
    /// ALSA's description on one line (its line breaks become " — "); may be empty.
    public var description: String
    public var isInput: Bool
    public var isOutput: Bool

    public init(name: String, description: String, isInput: Bool, isOutput: Bool) {
        self.name = name
        self.description = description
        self.isInput = isInput
        self.isOutput = isOutput
    }
}

public enum AlsaDeviceList {
    /// The PCMs that ALSA's name hints list for all cards, in ALSA's order. Without a sound
    /// card this is what the configuration defines (`null`, plugin devices), not `default`.
    /// Empty when ALSA cannot list anything. Thread safety: any thread.
    public static func list() -> [AlsaDeviceInfo] {
        var hints: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
        guard snd_device_name_hint(-1, "pcm", &hints) >= 0, let hints else { return [] }
        defer { snd_device_name_free_hint(hints) }

        var devices: [AlsaDeviceInfo] = []
        var index = 0
        while let hint = hints[index] {
            index += 1
            guard let name = hintString(hint, "NAME"), !name.isEmpty else { continue }
            let description = (hintString(hint, "DESC") ?? "")
                .split(separator: "\n", omittingEmptySubsequences: true)
                .joined(separator: " — ")
            // IOID is absent when the PCM works both ways.
            let ioid = hintString(hint, "IOID")
            devices.append(AlsaDeviceInfo(name: name, description: description,
                                          isInput: ioid == nil || ioid == "Input",
                                          isOutput: ioid == nil || ioid == "Output"))
        }
        return devices
    }

    /// The hint field `id`, with ALSA's malloc'd copy freed.
    private static func hintString(_ hint: UnsafeMutableRawPointer, _ id: String) -> String? {
        guard let value = snd_device_name_get_hint(hint, id) else { return nil }
        defer { free(value) }
        return String(cString: value)
    }
}
