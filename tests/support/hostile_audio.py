"""A corpus of malformed or hostile audio files, each of which the server must refuse with a 4xx.

Every case is generated here from real starting material (Debian's LibriVox speech and ALSA's
Front_Left.wav) or from scratch, and covers:

* truncation: zero bytes, cut inside the RIFF header, cut inside the fmt chunk, header without data;
* broken structure: wrong RIFF magic (and RIFX, big-endian, over little-endian data), "WAVE" missing,
  fmt chunk missing;
* absurd parameters: sample rates of 0 Hz, 1 Hz, 500 Hz and 4,000,000,000 Hz, 0 / 1000 / 65535 channels,
  0 / 3 / 1000 bits per sample, inconsistent ADPCM block aligns, unknown codec tags (0xFFFF, 0);
* poisoned samples: 32-bit float WAV full of NaN, and with +inf;
* lies about the content: random bytes as mp3 and as wav, an ID3 tag with nothing or noise after it,
  a valid WAV declared as mp3, a valid MP3 declared as wav, text, PNG and JPEG headers, Ogg and FLAC
  magic declared as wav, a header claiming 10 hours over no sample or half of one;
* too long: 30 s of silent WAV and 1 hour of silent MP3, beyond a server limit of 20 s per part.

The corpus assumes that limit (`audio={"max_seconds_per_part": 20}`): the long cases are refused for their
length, not for their bytes. Inputs FFmpeg decodes into real audio (PCM "of 3 bits" it reads as 8-bit, a PCM
block align it ignores, a few whole samples under a header claiming hours) are deliberately left out.

`odd_but_valid()` holds the opposite: unusual but real audio that once made the decoder fail with a 500.
"""

from __future__ import annotations

import functools
import struct
import wave
from pathlib import Path

import av
import numpy as np

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav")
FRONT_LEFT = Path("/usr/share/sounds/alsa/Front_Left.wav")
WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_MS_ADPCM = 0x0002
WAVE_FORMAT_IMA_ADPCM = 0x0011

Case = tuple[str, bytes, str]


def fmt_chunk(
    *,
    tag: int = WAVE_FORMAT_PCM,
    channels: int = 1,
    rate: int = 16000,
    bits: int = 16,
    block_align: int | None = None,
) -> bytes:
    """A 16-byte "fmt " chunk; block align and byte rate follow from the rest unless overridden."""
    align = (channels * bits // 8 if block_align is None else block_align) & 0xFFFF
    body = struct.pack("<HHIIHH", tag, channels, rate, (rate * align) & 0xFFFFFFFF, align, bits)
    return b"fmt " + struct.pack("<I", len(body)) + body


def data_chunk(samples: bytes, *, claimed: int | None = None) -> bytes:
    size = len(samples) if claimed is None else claimed
    return b"data" + struct.pack("<I", size) + samples


def riff(*chunks: bytes, magic: bytes = b"RIFF", form: bytes = b"WAVE") -> bytes:
    body = form + b"".join(chunks)
    return magic + struct.pack("<I", len(body) & 0xFFFFFFFF) + body


def wav(samples: bytes, **fmt: int) -> bytes:
    """A WAV file holding `samples` (already encoded as the fmt fields say)."""
    return riff(fmt_chunk(**fmt), data_chunk(samples))


@functools.cache
def speech() -> bytes:
    """Two seconds of real speech: 16 kHz mono 16-bit PCM."""
    with wave.open(str(LIBRIVOX), "rb") as clip:
        return clip.readframes(2 * clip.getframerate())


def noise(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def float_wav(value: float) -> bytes:
    """One second of 32-bit float samples all equal to `value`."""
    samples = np.full(16000, value, dtype="<f4").tobytes()
    return wav(samples, tag=WAVE_FORMAT_IEEE_FLOAT, bits=32)


def _mp3_packets(seconds: int, rate: int, bit_rate: int, signal: bytes | None = None) -> bytes:
    """`seconds` of silence (or the 16-bit `signal`) encoded with LAME: bare MPEG frames, no Xing tag."""
    codec = av.CodecContext.create("libmp3lame", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate, codec.layout, codec.format, codec.bit_rate = rate, "mono", "s16p", bit_rate
    pcm = np.frombuffer(signal, dtype="<i2") if signal else np.zeros(seconds * rate, dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16p", layout="mono")
    frame.sample_rate = rate
    return b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])


@functools.cache
def speech_mp3() -> bytes:
    """A valid MP3 (the speech clip through LAME)."""
    return _mp3_packets(2, 16000, 32000, speech())


def silent_mp3_hour() -> bytes:
    """One hour of silence as 8 kbps MP3 (about 3.6 MB): a minute encoded once, repeated 60 times."""
    return _mp3_packets(60, 8000, 8000) * 60


def silent_wav(seconds: int) -> bytes:
    return wav(bytes(seconds * 16000 * 2))


def _truncation_cases() -> list[Case]:
    whole = wav(speech())
    return [
        ("zero-length", b"", "wav"),
        ("truncated in RIFF header", whole[:7], "wav"),
        ("truncated in fmt chunk", whole[:28], "wav"),
        ("header only, no data chunk", riff(fmt_chunk()), "wav"),
        ("data chunk empty", wav(b""), "wav"),
    ]


def _structure_cases() -> list[Case]:
    return [
        ("wrong RIFF magic", riff(fmt_chunk(), data_chunk(speech()), magic=b"RIFQ"), "wav"),
        ("RIFX magic over little-endian data", riff(fmt_chunk(), data_chunk(speech()), magic=b"RIFX"), "wav"),
        ("WAVE missing", riff(fmt_chunk(), data_chunk(speech()), form=b"AVI "), "wav"),
        ("fmt chunk missing", riff(data_chunk(speech())), "wav"),
    ]


def _parameter_cases() -> list[Case]:
    pcm = speech()
    return [
        ("sample rate 0 Hz", wav(pcm, rate=0), "wav"),
        ("sample rate 1 Hz", wav(pcm, rate=1), "wav"),
        ("sample rate 500 Hz", wav(pcm, rate=500), "wav"),
        ("sample rate 4 GHz", wav(pcm, rate=4_000_000_000), "wav"),
        ("0 channels", wav(pcm, channels=0), "wav"),
        ("1000 channels", wav(pcm, channels=1000), "wav"),
        ("65535 channels", wav(pcm, channels=65535), "wav"),
        ("0 bits per sample", wav(pcm, bits=0), "wav"),
        # PCM of 3 bits FFmpeg reads as 8-bit (real audio, a 200), so the unusable one is a 3-bit float
        ("3-bit float samples", wav(pcm, tag=WAVE_FORMAT_IEEE_FLOAT, bits=3), "wav"),
        ("1000 bits per sample", wav(pcm, bits=1000), "wav"),
        # PCM decoders ignore the block align; ADPCM ones need it to find their blocks
        ("IMA ADPCM block align 0", wav(pcm, tag=WAVE_FORMAT_IMA_ADPCM, bits=4, block_align=0), "wav"),
        ("IMA ADPCM block align 1", wav(pcm, tag=WAVE_FORMAT_IMA_ADPCM, bits=4, block_align=1), "wav"),
        ("MS ADPCM block align 65535", wav(pcm, tag=WAVE_FORMAT_MS_ADPCM, bits=4, block_align=65535), "wav"),
        ("codec tag 0xFFFF", wav(pcm, tag=0xFFFF), "wav"),
        ("codec tag 0", wav(pcm, tag=0), "wav"),
        ("float NaN", float_wav(float("nan")), "wav"),
        ("float +inf", float_wav(float("inf")), "wav"),
    ]


def _impostor_cases() -> list[Case]:
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10)  # a tag of 10 zero bytes of padding
    return [
        ("ID3 then random bytes", id3 + noise(20_000, 1), "mp3"),
        ("ID3 tag only", id3, "mp3"),
        ("random bytes as mp3", noise(20_000, 2), "mp3"),
        ("random bytes as wav", noise(20_000, 3), "wav"),
        ("valid wav declared mp3", FRONT_LEFT.read_bytes(), "mp3"),
        ("valid mp3 declared wav", speech_mp3(), "wav"),
        ("text hello", b"hello\n", "wav"),
        ("PNG header", b"\x89PNG\r\n\x1a\n" + noise(2000, 4), "wav"),
        ("JPEG header", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + noise(2000, 5), "mp3"),
        ("Ogg magic as wav", b"OggS\x00\x02" + noise(2000, 6), "wav"),
        ("FLAC magic as wav", b"fLaC\x00\x00\x00\x22" + noise(2000, 7), "wav"),
    ]


def _length_cases() -> list[Case]:
    # The 10-hour claims are over a truncated data chunk, so FFmpeg reads what is there: a few whole samples
    # would be real (if short) audio, hence none, or half of one.
    no_samples = riff(fmt_chunk(rate=8000, bits=8), data_chunk(b"", claimed=288_000_000))
    half_a_sample = riff(fmt_chunk(rate=8000, bits=16), data_chunk(b"\x00", claimed=576_000_000))
    return [
        ("header claims 10 hours, no samples", no_samples, "wav"),
        ("header claims 10 hours, half a sample", half_a_sample, "wav"),
        ("30 s of silence", silent_wav(30), "wav"),
        ("1 hour of silent mp3", silent_mp3_hour(), "mp3"),
    ]


def corpus() -> list[Case]:
    """(case name, file bytes, declared format) for every hostile input."""
    return [
        *_truncation_cases(),
        *_structure_cases(),
        *_parameter_cases(),
        *_impostor_cases(),
        *_length_cases(),
    ]


def _info_chunk(software: bytes) -> bytes:
    """A LIST/INFO chunk naming the encoding software (ISFT), padded to even length as RIFF requires."""
    text = software + b"\x00" * (2 - len(software) % 2)
    entry = b"ISFT" + struct.pack("<I", len(text)) + text
    return b"LIST" + struct.pack("<I", 4 + len(entry)) + b"INFO" + entry


def odd_but_valid() -> list[Case]:
    """Real speech in unusual but valid files: each must be heard (a 200), not refused and not a 500."""
    pcm64 = (np.frombuffer(speech(), dtype="<i2").astype("<i8") << 48).tobytes()
    latin1_tag = riff(fmt_chunk(), _info_chunk(b"Enregistr\xe9 \xff\xfe"), data_chunk(speech()))
    return [
        ("64-bit integer PCM", wav(pcm64, bits=64), "wav"),
        ("INFO tag not UTF-8", latin1_tag, "wav"),
    ]
