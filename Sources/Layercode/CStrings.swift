// SPDX-License-Identifier: Apache-2.0
import CPosix

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

/// The last lc_client_new() or lc_options_init_sized() failure of each thread
/// (lc_client_last_error(NULL)).
enum ThreadLastError {
    private static let slot = ThreadLocalCString()

    static func set(_ message: String) { _ = slot.set(message) }

    static var pointer: UnsafePointer<CChar> { slot.pointer }
}

/// "Why did my call fail" (lc_client_last_error(client)), the SQLite way but per thread: the
/// detail of the last lc_ call on a client that failed on this thread, and which client it
/// was (ClientHandle.id, never reused, so a freed handle's address reused by a new client
/// does not inherit it). Nothing another thread does can change or free it.
enum ThreadCallError {
    private static let text = ThreadLocalCString()
    /// The failing call's client id, stored as the key's pointer value (no allocation).
    private static let owner: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    /// A static detail (set instead of `text` where a call must not allocate: audio calls).
    private static let staticText: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
    private static let empty = StaticCString.make("")

    /// Records `message` as the calling thread's failure on client `id`.
    static func set(_ id: UInt, _ message: String) {
        _ = text.set(message)
        pthread_setspecific(staticText, nil)
        pthread_setspecific(owner, UnsafeRawPointer(bitPattern: id))
    }

    /// The same without allocating: `message` must live for the whole process.
    static func setStatic(_ id: UInt, _ message: UnsafePointer<CChar>) {
        pthread_setspecific(staticText, message)
        pthread_setspecific(owner, UnsafeRawPointer(bitPattern: id))
    }

    /// The calling thread's last failure on client `id`, or "" if its last failure was on
    /// another client (or there was none).
    static func pointer(_ id: UInt) -> UnsafePointer<CChar> {
        guard let stored = pthread_getspecific(owner), UInt(bitPattern: stored) == id else {
            return empty
        }
        if let p = pthread_getspecific(staticText) {
            return UnsafePointer(p.assumingMemoryBound(to: CChar.self))
        }
        return text.pointer
    }
}
