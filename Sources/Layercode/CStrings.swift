// SPDX-License-Identifier: Apache-2.0
import Glibc

/// C strings that live for the whole process (lc_version, lc_strerror).
enum StaticCString {
    static func make(_ s: String) -> UnsafePointer<CChar> {
        UnsafePointer(strdup(s)!)
    }
}

/// One C string per thread, replaced by the next `set` on the same thread and freed when the
/// thread exits. Nothing another thread does can free what a thread was handed.
struct ThreadLocalCString {
    private let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        self.key = key
    }

    /// Stores a copy of `text` for the calling thread and returns it.
    func set(_ text: String) -> UnsafePointer<CChar> {
        let old = pthread_getspecific(key)
        let copy = strdup(text) ?? strdup("")!
        pthread_setspecific(key, copy)
        free(old)
        return UnsafePointer(copy)
    }

    /// The calling thread's string ("" before its first `set`).
    var pointer: UnsafePointer<CChar> {
        if let p = pthread_getspecific(key) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
        return set("")
    }
}

/// The last lc_client_new() failure of each thread (lc_client_last_error(NULL)).
enum ThreadLastError {
    private static let slot = ThreadLocalCString()

    static func set(_ message: String) { _ = slot.set(message) }

    static var pointer: UnsafePointer<CChar> { slot.pointer }
}

/// What lc_client_last_error(client) hands out: the calling thread's own copy of the
/// client's last error, valid until that thread's next lc_client_last_error(client) call on
/// any client. Another thread's call, or lc_client_free(), cannot free it under the reader.
enum ThreadClientError {
    private static let slot = ThreadLocalCString()

    static func copy(_ message: String) -> UnsafePointer<CChar> { slot.set(message) }
}
