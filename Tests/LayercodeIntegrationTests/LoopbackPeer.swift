// SPDX-License-Identifier: Apache-2.0
import Foundation
import Glibc

// What the hand-written WebSocket peers of HostilePeerTests and WebSocketBackpressureTests
// share: a loopback listener with a small receive buffer, and reading the upgrade request.

/// A TCP socket listening on 127.0.0.1 at a free port, backlog 1, with a 4096-byte receive
/// buffer that the accepted socket inherits (a peer that does not read backs the client up
/// quickly). Throws "`name`: bind failed" if it cannot bind, listen or learn its port.
func smallBufferLoopbackListener(name: String) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var small: Int32 = 4096
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw NSError(domain: "\(name): bind failed", code: Int(errno)) }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

/// Reads an HTTP upgrade request from `fd` byte by byte, so nothing past its blank line, and
/// returns its Sec-WebSocket-Key ("" if it has none); nil if the connection ended first.
func readUpgradeRequestKey(_ fd: Int32) -> String? {
    var request = [UInt8]()
    var byte: UInt8 = 0
    while request.count < 4 || Array(request.suffix(4)) != Array("\r\n\r\n".utf8) {
        guard read(fd, &byte, 1) == 1 else { return nil }
        request.append(byte)
    }
    return String(decoding: request, as: UTF8.self).split(separator: "\r\n")
        .first { $0.lowercased().hasPrefix("sec-websocket-key:") }
        .map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) } ?? ""
}
