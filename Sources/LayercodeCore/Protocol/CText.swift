// SPDX-License-Identifier: Apache-2.0
/// Server text on its way to a C string (an error message, a close reason). A NUL would
/// end the C string early and hide the rest, so each one becomes U+FFFD, visibly.
public enum CText {
    public static func replacingNUL(_ text: String) -> String {
        guard text.utf8.contains(0) else { return text }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(scalar.value == 0 ? "\u{FFFD}" : scalar)
        }
        return String(scalars)
    }
}
