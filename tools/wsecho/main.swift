// SPDX-License-Identifier: Apache-2.0
// layercode-wsecho: an Autobahn-style echo client for the WebSocket conformance suite
// (tools/wsconformance). It connects our WebSocketClient to the URL given, sends every text
// and binary message straight back, and exits when the connection ends, printing one JSON
// line on stdout:
//   {"result":"closed","peer_code":1000,"peer_reason":"","sent_code":1000,...}  close handshake
//   {"result":"failed","error_code":"protocolViolation","error":"...","sent_code":1007,...}
// peer_code is the code in the server's close frame, sent_code the one in ours (null: none).
// Exit status 0 in both cases (the server judges the behaviour); 2 for bad arguments.
//
// usage: layercode-wsecho [--max-message-size BYTES] [--close-timeout-ms MS] ws://HOST:PORT/PATH
import Glibc
import LayercodeCore
import LayercodeNet

func usage(_ message: String) -> Never {
    fputs("layercode-wsecho: \(message)\n"
          + "usage: layercode-wsecho [--max-message-size BYTES] [--close-timeout-ms MS] URL\n", stderr)
    exit(2)
}

var options = WebSocketClient.Options()
options.userAgent = "layercode-wsecho"
var urlText: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--max-message-size":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), value >= 0 else {
            usage("--max-message-size needs a byte count")
        }
        options.maxMessageSize = value
    case "--close-timeout-ms":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), value >= 0 else {
            usage("--close-timeout-ms needs milliseconds")
        }
        options.closeTimeoutMilliseconds = value
    default:
        guard urlText == nil, !argument.hasPrefix("-") else { usage("unexpected argument \(argument)") }
        urlText = argument
    }
}
guard let urlText else { usage("no URL") }
let url: URLParts
do {
    url = try URLParts.parse(urlText)
} catch {
    usage(error.description)
}
guard !url.isTLS else { usage("only ws:// URLs (the conformance server speaks plain TCP)") }

/// What happened, written on the loop thread before `done` is posted; read after.
nonisolated(unsafe) var outcome = JSONObject()
let done = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
sem_init(done, 0, 0)
nonisolated(unsafe) var client: WebSocketClient?

func finish(_ fields: [(String, JSONValue)]) {
    var result = JSONObject(fields)
    if let client {
        result["sent_code"] = client.closeCodeSent.map { .number(Double($0)) } ?? .null
        result["messages_received"] = .number(Double(client.messagesReceived))
        result["messages_sent"] = .number(Double(client.messagesSent))
    }
    outcome = result
    sem_post(done)
}

let loop = EventLoop.shared
loop.execute {
    let ws = WebSocketClient(loop: loop, url: url, tls: nil, options: options)
    client = ws
    ws.onText = { [unowned ws] text in ws.sendText(text) }
    ws.onBinary = { [unowned ws] bytes in ws.sendBinary(bytes) }
    ws.onClosed = { code, reason in
        finish([("result", "closed"),
                ("peer_code", code.map { .number(Double($0)) } ?? .null),
                ("peer_reason", .string(reason))])
    }
    ws.onFailure = { error in
        finish([("result", "failed"), ("error_code", .string("\(error.code)")),
                ("error", .string(error.message))])
    }
    ws.start()
}
while sem_wait(done) != 0 {}
print(JSONValue.object(outcome).serialized())
fflush(stdout)
// The connection writes what is still queued (an echo, the close frame) before it closes;
// exiting earlier would cut it off. Bounded: a peer that stops reading cannot hold us.
for _ in 0..<300 {
    var pending = 0
    loop.executeAndWait { pending = client?.pendingOutputBytes ?? 0 }
    if pending == 0 { break }
    usleep(10_000)
}
exit(0)
