"""Sound for `omnivox chat`: pcm16 answers (24 kHz mono) played through ALSA's `aplay` while they arrive,
or saved as WAV; speech recorded with `arecord` when the machine has a sound device."""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
import wave
from pathlib import Path

PCM_RATE = 24000  # chat completions' pcm16: 24 kHz mono little-endian int16
MIC_RATE = 16000  # what Whisper hears; recorded at this rate so nothing is resampled


def has_device(kind: str) -> bool:
    """Whether ALSA lists a `kind` ("playback" or "capture") device and its tool is installed."""
    tool = {"playback": "aplay", "capture": "arecord"}[kind]
    if shutil.which(tool) is None:
        return False
    listed = subprocess.run([tool, "-l"], capture_output=True, text=True, timeout=10, check=False)
    return "card " in listed.stdout


def wav_bytes(pcm: bytes, rate: int = PCM_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


class Player:
    """Plays pcm16 chunks as they come (through `aplay`), keeps them all for saving."""

    def __init__(self, play: bool) -> None:
        self.pcm = bytearray()
        self._process = (
            subprocess.Popen(
                ["aplay", "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(PCM_RATE)],
                stdin=subprocess.PIPE,
            )
            if play
            else None
        )

    def feed(self, pcm: bytes) -> None:
        self.pcm += pcm
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.write(pcm)
            self._process.stdin.flush()

    def finish(self) -> None:
        """Waits until what was fed has been heard."""
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()
            self._process.wait(timeout=600)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / PCM_RATE

    def save(self, path: Path) -> None:
        path.write_bytes(wav_bytes(bytes(self.pcm)))


def record_until_enter() -> bytes:
    """Records from the default capture device until the user presses Enter; returns a WAV."""
    command = ["arecord", "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(MIC_RATE)]
    chunks: list[bytes] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE) as process:
        stdout = process.stdout
        assert stdout is not None  # stdout=PIPE
        # read while recording: a full pipe (64 KiB, 2 s of audio) would stall arecord
        reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: stdout.read(4096), b"")))
        reader.start()
        try:
            input("recording... press Enter to send ")
        finally:
            process.terminate()
            reader.join(timeout=10)
    return wav_bytes(b"".join(chunks), MIC_RATE)
