#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""`make bench`: the numbers quoted in the README.

- library size: liblayercode.so stripped;
- connect latency (authorize + WebSocket open) on loopback, plain and TLS, p50/p90/max;
- CPU time of a 60 s full-duplex session (player streaming speech up, echo agent audio down),
  user+system seconds of the player process, and its peak RSS;
- audio latency measured by the library (lc_stats) in a scripted conversation with
  barge-ins: uplink, downlink (first agent audio of a turn), barge-in, p50/p99;
- allocations per second on the real-time audio threads (must be 0);
- the wire profiles side by side (doc/opus-profile.md): bytes per second of audio on the
  socket up and down, PCM JSON against Opus, with the player's CPU; and the library's
  latency figures and CPU over each (latency_bench with CODECS);
- reconnect: the devserver drops the socket (no close frame); time from status
  reconnecting to connected again (re-authorize with the same conversation + reopen), with
  the backoff set to 1 ms so the figure is the library's own work;
- ns per 20 ms frame of the audio building blocks (layercode-microbench), twice: built by
  SwiftPM in normal Swift ("build": "swiftpm") and built with Embedded Swift against the
  shipped library's own modules in build/obj ("build": "embedded"), which is what users run;
- the event loop with 1 and 200 idle owners and 200 pending timers: the loop thread's CPU
  per wake-up of one owner, and ns per timer schedule + cancel (layercode-loopbench);
- resident memory per client, idle (200 never-connected clients) and connected (50
  external-audio clients on one devserver): VmRSS growth / clients (bench/client_memory.c);
- the resamplers (issue 14, bench/resampler_quality.py): the polyphase FIR the library uses
  for whole-number ratios against speexdsp at qualities 0..10, speech-band SNR against sox's
  very-high-quality conversion and CPU per 20 ms, for 48 -> 8, 48 -> 16 and 16 -> 48 kHz;
- the echo scenes (issue 13, bench/aec/score.py; `make bench-aec` runs them alone): every
  echo canceller engine built over simulated rooms from files, ERLE, time to 20 dB,
  residual, false VAD onsets, the user in double-talk and CPU per 10 ms, one "aec_scene"
  line per engine and scene; the Markdown table with the goals beside the numbers goes to
  stderr and bench/results/aec_scenes.json.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
SESSION_SECONDS = float(os.environ.get("BENCH_SESSION_SECONDS", "60"))


def devserver(work, tls):
    return devserver_with(work, ["--tls"] if tls else [])


def devserver_with(work, extra):
    args = [sys.executable, os.path.join(ROOT, "tools/devserver/devserver.py"), "--port", "0", "--no-dashboard",
            "--cert-dir", os.path.join(work, "certs")] + extra
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, json.loads(proc.stdout.readline())


def compile_c(source, out):
    subprocess.run(["cc", "-std=c11", "-O2", "-I", os.path.join(ROOT, "include"), source,
                    "-L", os.path.join(BUILD, "lib"), "-llayercode", "-lpthread", "-lm",
                    "-Wl,-rpath," + os.path.join(BUILD, "lib"), "-o", out], check=True)
    return out


PARAGRAPH = ("The quick brown fox jumps over the lazy dog. A native client for voice agents "
             "should cost little on the wire, little in memory and little in power. This "
             "paragraph is spoken in both directions so that the two wire profiles carry the "
             "same kind of audio: speech with its natural pauses.")


def wire_profiles(work):
    """Bytes per second on the socket, PCM JSON against the Opus profile, both directions at
    once: the player streams espeak-ng speech up (ungated: every frame, pauses included)
    while the agent speaks a paragraph down (can_interrupt false, so the two overlap). Bytes
    are the library's wire counters (every WebSocket frame, headers included, before TLS)
    per second of audio carried; the player's CPU and the library's latency figures beside
    them."""
    speech = os.path.join(work, "paragraph.wav")
    subprocess.run(["espeak-ng", "-w", speech, PARAGRAPH], check=True)
    seconds = float(subprocess.run(["soxi", "-D", speech], check=True, capture_output=True,
                                   text=True).stdout)
    out = []
    proc, ready = devserver_with(work, ["--codecs", "opus,pcm16", "--no-interrupt",
                                        "--greeting", PARAGRAPH, "--audio-speed", "1"])
    try:
        for codecs in ("pcm16", "opus,pcm16"):
            player = subprocess.Popen(
                [os.path.join(BUILD, "bin", "layercode-player"),
                 "--authorize-url", ready["authorize_url"], "--ws-url", ready["ws"],
                 "--agent-id", "say", "--codecs", codecs,
                 "--metadata", '{"vad": {"gate_audio": false}}',
                 "--input", speech, "--output", os.path.join(work, "wire.wav"),
                 "--duration", str(round(seconds + 1, 1)), "--json-events"],
                stdout=subprocess.PIPE, text=True)
            stdout = player.stdout.read()
            _, status, usage = os.wait4(player.pid, 0)  # this child's own CPU time
            player.returncode = os.waitstatus_to_exitcode(status)
            if player.returncode != 0:
                sys.exit(f"bench: player failed ({player.returncode})")
            stats = [json.loads(l) for l in stdout.splitlines() if '"final":true' in l][-1]
            up_audio = stats["audio_frames_sent"] * 0.020
            down_audio = stats["played_samples"] / 16000
            out.append({"bench": "wire_profile", "codec": stats["wire_codec"],
                        "uplink_audio_seconds": round(up_audio, 2),
                        "downlink_audio_seconds": round(down_audio, 2),
                        "uplink_bytes_per_second": round(stats["wire_bytes_sent"] / up_audio),
                        "downlink_bytes_per_second": round(stats["wire_bytes_received"] / down_audio),
                        "concealed_ms": stats["concealed_ms"],
                        "player_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)})
        pcm, opus = out
        out.append({"bench": "wire_profile_ratio",
                    "uplink_pcm_over_opus": round(pcm["uplink_bytes_per_second"] / opus["uplink_bytes_per_second"], 1),
                    "downlink_pcm_over_opus": round(pcm["downlink_bytes_per_second"] / opus["downlink_bytes_per_second"], 1)})
    finally:
        proc.terminate(); proc.wait()
    # The library's own latency figures and CPU over each profile (latency_bench: the tone
    # agent, a user turn every 2.5 s barging in).
    proc, ready = devserver_with(work, ["--codecs", "opus,pcm16", "--tone-seconds", "3"])
    try:
        bench_bin = compile_c(os.path.join(ROOT, "bench", "latency_bench.c"),
                              os.path.join(work, "latency_bench_profiles"))
        for codecs in ("pcm16", "opus,pcm16"):
            text = subprocess.run([bench_bin, ready["authorize_url"], ready["ws"], "30", codecs],
                                  check=True, capture_output=True, text=True, timeout=120).stdout
            out.append(dict(json.loads(text), bench="latency_by_profile"))
    finally:
        proc.terminate(); proc.wait()
    return out


def latency_and_allocations(work):
    out = []
    proc, ready = devserver_with(work, ["--tone-seconds", "3"])
    try:
        bench_bin = compile_c(os.path.join(ROOT, "bench", "latency_bench.c"),
                              os.path.join(work, "latency_bench"))
        text = subprocess.run([bench_bin, ready["authorize_url"], ready["ws"], "60"],
                              check=True, capture_output=True, text=True, timeout=120).stdout
        out.append(json.loads(text))
        counter = compile_c(os.path.join(ROOT, "tests", "c", "rt_malloc_count.c"),
                            os.path.join(work, "rt_malloc_count"))
        for mode, env in (("external", {}),
                          ("alsa", {"LC_TEST_CAPTURE": "null", "LC_TEST_PLAYBACK": "null"})):
            r = json.loads(subprocess.run([counter, ready["authorize_url"], ready["ws"], mode, "2", "10"],
                                          check=True, capture_output=True, text=True, timeout=60,
                                          env={**os.environ, **env}).stdout)
            out.append({"bench": "audio_thread_allocations", "mode": mode,
                        "allocations_per_second": r["audio_thread_allocations"] / float(r["seconds"]),
                        # The event loop's, not held to zero: per uplink frame sent (each
                        # carries its own message) in the same window.
                        "loop_allocations_per_frame": round(r["loop_thread_allocations"]
                                                            / max(1, r["window_frames_sent"]), 2),
                        "window_frames_sent": r["window_frames_sent"],
                        "window_messages_received": r["window_messages_received"]})
    finally:
        proc.terminate(); proc.wait()
    return out


def alsa_full_duplex(work, speech):
    """CPU of a 60 s full-duplex ALSA session at 48 kHz on PulseAudio null sinks (paced in
    real time like a sound card), the user talking every 5 s, the echo agent answering."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "audio"))
    from pulse import PulseRig
    seconds = float(os.environ.get("BENCH_ALSA_SECONDS", "60"))
    try:
        rig = PulseRig()
    except Exception as e:  # no PulseAudio: say so instead of a number
        return [{"bench": "alsa_full_duplex", "skipped": str(e)}]
    proc, ready = devserver_with(work, [])
    try:
        start = time.monotonic()
        player = subprocess.Popen(
            [os.path.join(BUILD, "bin", "layercode-player"), "--authorize-url", ready["authorize_url"],
             "--ws-url", ready["ws"], "--agent-id", "echo", "--capture", "lcmic",
             "--playback", "lcspk", "--device-rate", "48000", "--duration", str(seconds),
             "--amplitude-rate", "0",
             "--json-events"], env=rig.env, stdout=subprocess.PIPE, text=True)
        talkers = []
        while player.poll() is None and time.monotonic() - start < seconds:
            time.sleep(5)
            talkers.append(rig.play(speech))
        final = None
        for line in player.stdout:
            event = json.loads(line)
            if event.get("event") == "stats":
                final = event
        _, status, usage = os.wait4(player.pid, 0)
        for t in talkers:
            t.wait()
        cpu = usage.ru_utime + usage.ru_stime
        return [{"bench": "alsa_full_duplex", "device_rate": 48000, "seconds": seconds,
                 "cpu_seconds": round(cpu, 3), "cpu_percent_of_one_core": round(100 * cpu / seconds, 2),
                 "player_max_rss_kib": usage.ru_maxrss,
                 "frames_sent": final and final["audio_frames_sent"],
                 "frames_received": final and final["audio_frames_received"],
                 "concealed_ms": final and final["concealed_ms"],
                 "xruns": final and final["capture_xruns"] + final["playback_xruns"]}]
    finally:
        proc.terminate(); proc.wait()
        rig.close()


def reconnect_bench(work, runs=30):
    """Status reconnecting -> connected after a dropped socket, through the Python bindings."""
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    os.environ.setdefault("LAYERCODE_LIBRARY", os.path.join(BUILD, "lib", "liblayercode.so"))
    import threading
    import layercode
    proc, ready = devserver_with(work, ["--no-greeting"])
    times = []
    try:
        for _ in range(runs):
            marks = {}
            done = threading.Event()

            def on_status(status, marks=marks, done=done):
                now = time.monotonic()
                if status == layercode.Status.RECONNECTING:
                    marks["lost"] = now
                elif status == layercode.Status.CONNECTED and "lost" in marks:
                    marks["back"] = now
                    done.set()
            with layercode.Client("echo", ready["authorize_url"], ws_url=ready["ws"], audio="none",
                                  metadata={"devserver_fault": {"fault": "drop_tcp_mid_turn",
                                                                "at": "ready"}},
                                  reconnect_base_ms=1, reconnect_max_delay_ms=1,
                                  on_status=on_status) as client:
                client.connect()
                if not done.wait(20):
                    sys.exit("bench: no reconnect")
                times.append((marks["back"] - marks["lost"]) * 1000)
    finally:
        proc.terminate(); proc.wait()
    times.sort()
    return {"bench": "reconnect", "runs": runs, "p50_ms": round(times[len(times) // 2], 2),
            "p90_ms": round(times[int(len(times) * 0.9)], 2), "max_ms": round(times[-1], 2)}


def client_memory(work):
    bench_bin = compile_c(os.path.join(ROOT, "bench", "client_memory.c"),
                          os.path.join(work, "client_memory"))
    out = []
    for mode in ("external", "none"):
        text = subprocess.run([bench_bin, "200", mode], check=True, capture_output=True,
                              text=True, timeout=120).stdout
        out.append({"bench": "client_memory_idle", **json.loads(text)})
    proc, ready = devserver_with(work, ["--no-greeting"])
    try:
        text = subprocess.run([bench_bin, "50", "external", ready["authorize_url"], ready["ws"]],
                              check=True, capture_output=True, text=True, timeout=120).stdout
        out.append({"bench": "client_memory_connected", **json.loads(text)})
    finally:
        proc.terminate(); proc.wait()
    return out


def resampler_quality():
    """The library's FIR against speexdsp 0..10: speech-band SNR and CPU per 20 ms for each
    conversion it makes (bench/resampler_quality.py)."""
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "resampler_quality.py")],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def aec_scenes():
    """The echo scenes, scored (bench/aec/score.py): the table to stderr (stdout stays one
    JSON object a line), every run as a line."""
    sys.path.insert(0, os.path.join(ROOT, "bench", "aec"))
    import score
    results = score.bench(score.AEC_SCENE, score.scene_files.DEFAULT_OUT)
    score.write_results(results)
    print(score.table(results), file=sys.stderr)
    return results["runs"]


def swift_bench(product):
    """Builds the Swift benchmark executable `product` (release) and returns its JSON lines."""
    subprocess.run(["swift", "build", "-c", "release", "--product", product],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    text = subprocess.run([os.path.join(ROOT, ".build", "release", product)],
                          check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def embedded_microbench(work):
    """bench/micro/main.swift compiled with Embedded Swift against the modules and objects of
    the shipped build (build/obj, tools/build-embedded.sh), run; returns its JSON lines."""
    swiftc = shutil.which("swiftc")
    tables = os.path.join(os.path.dirname(os.path.dirname(swiftc)), "lib", "swift", "embedded",
                          "x86_64-unknown-linux-gnu", "libswiftUnicodeDataTables.a")
    obj = os.path.join(BUILD, "obj")
    includes = []
    for module_map_dir in ("CPosix", "CALSA", "COpus", "CSpeexDSP", "CLayercodeShims/include",
                           "CEchoCancel/include", "CResample/include"):
        includes += ["-I", os.path.join(ROOT, "Sources", module_map_dir)]
    # The echo canceller's engines, as tools/build-embedded.sh links them.
    echo_libs = []
    for package in ("webrtc-audio-processing-1", "webrtc-audio-processing"):
        found = subprocess.run(["pkg-config", "--libs", package], capture_output=True, text=True)
        if found.returncode == 0:
            echo_libs = found.stdout.split()
            break
    exe = os.path.join(work, "microbench-embedded")
    subprocess.run([swiftc, "-enable-experimental-feature", "Embedded", "-wmo", "-O", "-I", obj,
                    *includes, os.path.join(ROOT, "bench", "micro", "main.swift"),
                    *(os.path.join(obj, o) for o in ("LayercodeCore.o", "LayercodeAudio.o",
                                                     "embedded-runtime.o", "echo.o", "fir.o")),
                    tables, "-lasound", "-lspeexdsp", "-lopus", *echo_libs, "-lstdc++", "-lm",
                    "-o", exe], check=True)
    text = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    return [dict(json.loads(line), build="embedded") for line in text.splitlines() if line.strip()]


def main():
    work = tempfile.mkdtemp(prefix="layercode-bench-")
    results = []
    lib = os.path.join(BUILD, "lib", "liblayercode.so")
    stripped = os.path.join(work, "lib.so")
    subprocess.run(["strip", "-o", stripped, os.path.realpath(lib)], check=True)
    results.append({"bench": "size", "stripped_bytes": os.path.getsize(stripped)})

    bench_bin = compile_c(os.path.join(ROOT, "bench", "connect_bench.c"),
                          os.path.join(work, "connect_bench"))
    for tls in (False, True):
        proc, ready = devserver(work, tls)
        try:
            out = subprocess.run([bench_bin, ready["authorize_url"], ready["ws"],
                                  ready["ca_file"] or "", "50"],
                                 check=True, capture_output=True, text=True, timeout=120).stdout
            results.append(json.loads(out))
        finally:
            proc.terminate(); proc.wait()

    speech = os.path.join(work, "speech.wav")
    subprocess.run(["espeak-ng", "-w", speech, "Hello agent, this is a benchmark of the native client."],
                   check=True)
    proc, ready = devserver(work, True)
    try:
        start = time.monotonic()
        player = subprocess.Popen(
            [os.path.join(BUILD, "bin", "layercode-player"),
             "--authorize-url", ready["authorize_url"], "--ws-url", ready["ws"],
             "--ca-file", ready["ca_file"], "--agent-id", "echo",
             "--input", speech, "--output", os.path.join(work, "out.wav"),
             "--duration", str(SESSION_SECONDS), "--json-events"],
            stdout=subprocess.DEVNULL)
        # wait4 gives this one child's own CPU time and peak RSS.
        _, status, usage = os.wait4(player.pid, 0)
        player.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        if player.returncode != 0:
            sys.exit(f"bench: player failed ({player.returncode})")
        cpu = usage.ru_utime + usage.ru_stime
        results.append({"bench": "session_cpu", "session_seconds": SESSION_SECONDS,
                        "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 3),
                        "cpu_percent_of_one_core": round(100 * cpu / wall, 2),
                        "player_max_rss_kib": usage.ru_maxrss})
    finally:
        proc.terminate(); proc.wait()
    results += alsa_full_duplex(work, speech)
    results += wire_profiles(work)
    results += latency_and_allocations(work)
    results.append(reconnect_bench(work))
    results += client_memory(work)
    results += [dict(r, build="swiftpm") for r in swift_bench("layercode-microbench")]
    results += embedded_microbench(work)
    results += swift_bench("layercode-loopbench")
    results += aec_scenes()
    results += resampler_quality()
    shutil.rmtree(work, ignore_errors=True)
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
