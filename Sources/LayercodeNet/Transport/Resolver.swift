// SPDX-License-Identifier: Apache-2.0
import CPosix
import LayercodeCore

/// A resolved socket address.
public struct SocketAddress: @unchecked Sendable {
    public var storage = sockaddr_storage()
    public var length: socklen_t = 0
    public var family: Int32 { Int32(storage.ss_family) }
}

/// Name resolution that never blocks the event loop: IP literals are parsed inline,
/// names are resolved by getaddrinfo on a short-lived thread and the result is posted back.
public enum Resolver {
    public typealias Completion = (Result<[SocketAddress], LayercodeError>) -> Void

    public static func resolve(host: String, port: Int, on loop: EventLoop,
                               completion: @escaping Completion) {
        // RFC 6761: "localhost" names are loopback, with or without the root's trailing dot
        // (resolvers without DNS often know "localhost" only from /etc/hosts).
        var bare = host.lowercased()
        while bare.hasSuffix(".") { bare.removeLast() }
        let host = bare == "localhost" || bare.hasSuffix(".localhost") ? "localhost" : host
        if let literal = try? lookup(host: host, port: port, numericOnly: true) {
            completion(.success(literal))
            return
        }
        let started = loop.runOffLoop({ () -> Result<[SocketAddress], LayercodeError> in
            do throws(LayercodeError) {
                return .success(try lookup(host: host, port: port, numericOnly: false))
            } catch {
                return .failure(error)
            }
        }, completion: completion)
        if !started {
            completion(.failure(LayercodeError(.network, "cannot start a resolver thread")))
        }
    }

    static func lookup(host: String, port: Int, numericOnly: Bool) throws(LayercodeError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (numericOnly ? AI_NUMERICHOST : AI_ADDRCONFIG)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw LayercodeError(.network,
                                 "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(first) }
        var out: [SocketAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let ai = node {
            if let addr = ai.pointee.ai_addr {
                var sa = SocketAddress()
                sa.length = ai.pointee.ai_addrlen
                withUnsafeMutableBytes(of: &sa.storage) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(
                        start: addr, count: min(Int(ai.pointee.ai_addrlen), dst.count)))
                }
                out.append(sa)
            }
            node = ai.pointee.ai_next
        }
        if out.isEmpty { throw LayercodeError(.network, "no addresses for \(host)") }
        return out
    }
}
