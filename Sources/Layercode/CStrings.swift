import Glibc

/// C strings that live for the whole process (lc_version, lc_strerror).
enum StaticCString {
    static func make(_ s: String) -> UnsafePointer<CChar> {
        UnsafePointer(strdup(s)!)
    }
}

/// The last lc_client_new() failure of each thread (lc_client_last_error(NULL)).
enum ThreadLastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        return key
    }()

    static func set(_ message: String) {
        let old = pthread_getspecific(key)
        pthread_setspecific(key, strdup(message))
        free(old)
    }

    static var pointer: UnsafePointer<CChar> {
        if let p = pthread_getspecific(key) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
        set("")
        return UnsafePointer(pthread_getspecific(key)!.assumingMemoryBound(to: CChar.self))
    }
}
