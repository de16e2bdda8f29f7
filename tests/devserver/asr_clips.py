# SPDX-License-Identifier: Apache-2.0
"""Spoken test clips for the recogniser (espeak-ng -> sox -> 8 kHz PCM16) and
a word error rate, shared by test_asr.py and bench/asr_bench.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SENTENCES = ["what is the weather today", "what time is it", "tell me a joke",
             "turn on the lights", "hello how are you"]
SPEEDS = (140, 175)                   # espeak-ng words per minute
# A small vocabulary for Recognizer(phrases=...): the sentences and a few more
# made of the same words, so the model is not just the five answers.
PHRASES = SENTENCES + ["what is the time", "tell me the weather", "turn off the lights",
                       "how are you today", "is it on", "tell me"]
FRAME_BYTES = 320                     # 20 ms at 8 kHz PCM16


def tools_missing() -> str | None:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            return f"{tool} not installed"
    return None


def make_clip(directory: Path, text: str, speed: int) -> bytes:
    """`text` spoken by espeak-ng -v en-us (the model's accent) at `speed` wpm, as 8 kHz
    mono PCM16LE.

    sox -D: no dither, so the clip is the same bytes every run (the recogniser
    is sensitive enough that dither alone moved the mean WER by 0.05)."""
    wav = directory / f"{speed}-{text.replace(' ', '_')}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(wav), text],
                   check=True, timeout=60)
    out = subprocess.run(["sox", "-q", "-D", str(wav), "-r", "8000", "-c", "1", "-b", "16",
                          "-e", "signed", "-t", "raw", "-"],
                         check=True, capture_output=True, timeout=60)
    return out.stdout


def make_clips(directory: Path) -> list[tuple[str, int, bytes]]:
    """(sentence, speed, pcm8k) for every sentence at every speed."""
    return [(text, speed, make_clip(directory, text, speed))
            for speed in SPEEDS for text in SENTENCES]


def frames(pcm: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    return [pcm[i:i + size] for i in range(0, len(pcm), size)]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level Levenshtein distance / reference words."""
    ref, hyp = reference.split(), hypothesis.split()
    row = list(range(len(hyp) + 1))
    for i, rword in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, hword in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           diagonal + (rword != hword))
    return row[len(hyp)] / max(len(ref), 1)


def narrowband_transcripts(clips: list[bytes], tmp_path: Path, upperf: int) -> list[str]:
    """The alternative to upsampling: the en-us model with an 8 kHz front end
    (samprate 8000, nfft 256, filterbank up to `upperf`), fed 20 ms frames;
    each utterance from the model's initial cepstral mean, as asr.py does with
    its prior."""
    from pocketsphinx import Decoder, get_model_path
    params = tmp_path / f"feat-{upperf}.params"
    text = Path(get_model_path(), "en-us", "en-us", "feat.params").read_text()
    params.write_text(text.replace("-upperf 6800", f"-upperf {upperf}"))
    decoder = Decoder(samprate=8000, nfft=256, featparams=str(params), loglevel="FATAL")
    init = decoder.get_cmn(False)
    out = []
    for pcm in clips:
        decoder.reinit_feat()
        decoder.set_cmn(init)
        decoder.start_utt()
        for frame in frames(pcm):
            decoder.process_raw(frame, False, False)
        decoder.end_utt()
        hyp = decoder.hyp()
        out.append(hyp.hypstr if hyp is not None else "")
    return out
