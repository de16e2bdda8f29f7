# SPDX-License-Identifier: Apache-2.0
"""A deliberately naive WebSocket echo client: it checks nothing (not the upgrade response,
not RSV bits, opcodes, lengths, UTF-8 or close codes), echoes every message, answers every
ping and echoes the close payload. The conformance suite must fail it; the test that runs it
shows the suite's verdicts can fail at all. With --utf8 MODE it checks a text message once it
is complete (never "fail fast"): MODE "close" fails the connection with close 1007, MODE
"drop" just closes TCP (both are NON-STRICT behaviours).

usage: python naive_echo_client.py [--utf8 close|drop] ws://127.0.0.1:PORT/runCase?case=ID
"""
import json
import os
import socket
import struct
import sys
import urllib.parse


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def send_frame(sock, opcode, payload):
    key = os.urandom(4)
    n = len(payload)
    head = bytes((0x80 | opcode,))
    if n < 126:
        head += bytes((0x80 | n,))
    elif n < 65536:
        head += bytes((0x80 | 126,)) + struct.pack(">H", n)
    else:
        head += bytes((0x80 | 127,)) + struct.pack(">Q", n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    sock.sendall(head + key + masked)


def is_utf8(data):
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def main():
    args = sys.argv[1:]
    utf8_mode = None
    if args[0] == "--utf8":
        utf8_mode, args = args[1], args[2:]
    url = urllib.parse.urlsplit(args[0])
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall((f"GET {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exactly(sock, 1)
    message, opcode = b"", None
    try:
        while True:
            b0, b1 = read_exactly(sock, 2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", read_exactly(sock, 2))[0]
            elif n == 127:
                n = struct.unpack(">Q", read_exactly(sock, 8))[0] & 0xFFFFFFFF
            payload = read_exactly(sock, n)
            op = b0 & 0x0F
            if op == 9:
                send_frame(sock, 10, payload)
            elif op == 8:
                send_frame(sock, 8, payload)
                break
            elif op in (0, 1, 2) or op not in (10,):
                opcode = op if opcode is None and op != 0 else opcode
                message += payload
                if b0 & 0x80:
                    if utf8_mode and (opcode or 1) == 1 and not is_utf8(message):
                        if utf8_mode == "close":
                            send_frame(sock, 8, struct.pack(">H", 1007))
                        break
                    send_frame(sock, opcode or 1, message)
                    message, opcode = b"", None
    except (EOFError, ConnectionError):
        pass
    sock.close()
    print(json.dumps({"result": "closed"}))


if __name__ == "__main__":
    main()
