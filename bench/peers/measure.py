# SPDX-License-Identifier: Apache-2.0
"""What bench/peers/run.py reads: a process's CPU, PSS and threads from /proc, the
machine's load, and the devserver's JSON-lines log (tools/devserver/eventlog.py) for the
real-time check at the server."""
from __future__ import annotations

import json
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")
UP_BYTES_PER_SECOND = 8000 * 2      # client.audio: 8 kHz PCM16
DOWN_BYTES_PER_SECOND = 16000 * 2   # response.audio: 16 kHz PCM16
REAL_TIME_MIN = 0.95                # below this either way, a run is invalid


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its waited-for children (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()   # after "pid (comm) "; fields[0] is state
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / CLK_TCK


def proc_field(path: str, key: str) -> int:
    """The first number on the line of `path` that starts with `key` (a /proc file)."""
    with open(path) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in {path}")


def pss_kib(pid: int) -> int:
    """Pss of the whole process (/proc/PID/smaps_rollup), KiB."""
    return proc_field(f"/proc/{pid}/smaps_rollup", "Pss:")


def threads(pid: int) -> int:
    return proc_field(f"/proc/{pid}/status", "Threads:")


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


class ServerLog:
    """Reads the devserver's --log file incrementally (each run from where the last
    stopped) and counts, per session, the audio messages inside a wall-clock window."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        """Skips everything logged so far (a run starts after this)."""
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def window(self, start: float, end: float) -> dict:
        """The session that carried the most audio in [start, end] (wall clock): client.audio
        messages received and response.audio chunks sent, per second and as real-time
        ratios (audio seconds per second)."""
        sessions: dict[str, dict] = {}
        with open(self.path, encoding="utf-8") as f:
            f.seek(self.offset)
            for line in f:
                if not line.endswith("\n"):
                    break                       # a line still being written
                rec = json.loads(line)
                if not start <= rec.get("t", 0) <= end:
                    continue
                msg = rec.get("msg") or {}
                key = (rec.get("kind"), msg.get("type"))
                if key not in (("recv", "client.audio"), ("send", "response.audio")):
                    continue
                s = sessions.setdefault(rec.get("session") or "?",
                                        {"up_msgs": 0, "up_bytes": 0, "up_max": 0,
                                         "down_chunks": 0, "down_bytes": 0, "down_max": 0})
                size = msg.get("content_bytes") or 0
                if key[0] == "recv":
                    s["up_msgs"] += 1
                    s["up_bytes"] += size
                    s["up_max"] = max(s["up_max"], size)
                else:
                    s["down_chunks"] += 1
                    s["down_bytes"] += size
                    s["down_max"] = max(s["down_max"], size)
        seconds = max(end - start, 1e-9)
        if sessions:
            sid, best = max(sessions.items(),
                            key=lambda kv: kv[1]["up_bytes"] + kv[1]["down_bytes"])
        else:
            sid, best = None, {"up_msgs": 0, "up_bytes": 0, "up_max": 0,
                               "down_chunks": 0, "down_bytes": 0, "down_max": 0}
        up_rt = best["up_bytes"] / UP_BYTES_PER_SECOND / seconds
        down_rt = best["down_bytes"] / DOWN_BYTES_PER_SECOND / seconds
        # The verdict forgives one message at the window's edges (a 100 ms chunk is 5 % of
        # a 2 s window): a client is real time if one more message would make 95 %.
        up_ok = (best["up_bytes"] + best["up_max"]) / UP_BYTES_PER_SECOND / seconds
        down_ok = (best["down_bytes"] + best["down_max"]) / DOWN_BYTES_PER_SECOND / seconds
        return {"session": sid, "sessions_seen": len(sessions),
                "up_messages_per_s": round(best["up_msgs"] / seconds, 2),
                "up_audio_s_per_s": round(up_rt, 3),
                "down_chunks_per_s": round(best["down_chunks"] / seconds, 2),
                "down_audio_s_per_s": round(down_rt, 3),
                "real_time": (best["up_msgs"] > 0 and best["down_chunks"] > 0
                              and up_ok >= REAL_TIME_MIN and down_ok >= REAL_TIME_MIN)}


def played_ratio(stats: dict | None) -> float | None:
    """Agent audio the client consumed (played, or decoded where nothing plays) over the
    audio it received, from the client's own final counters; None where it reports none."""
    if not stats:
        return None
    received = stats.get("received_samples")
    if received is None and "audio_bytes_received" in stats:
        received = stats["audio_bytes_received"] // 2
    played = stats.get("played_samples")
    if not received or played is None:
        return None
    return round(played / received, 3)
