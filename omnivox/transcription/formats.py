"""A transcript in each of OpenAI's response formats."""

from __future__ import annotations

from collections.abc import Sequence

from omnivox.protocol import audio as wire
from omnivox.runtimes.languages import language_name
from omnivox.runtimes.speech import Segment, Task, Transcript


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(segments: Sequence[Segment]) -> list[tuple[Segment, str]]:
    """Each segment with the text of its cue: one line (a blank line would end the cue), without `-->`
    (a line holding it reads as a timing line; written `->`, as Whisper's own writers do). Segments with
    no text make no cue."""
    cues = [(s, " ".join(s.text.split()).replace("-->", "->")) for s in segments]
    return [(s, text) for s, text in cues if text]


def srt(segments: Sequence[Segment]) -> str:
    return "".join(
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{text}\n\n"
        for i, (s, text) in enumerate(_cues(segments), start=1)
    )


def _vtt_escaped(text: str) -> str:
    """WebVTT cue text: `&` and `<` start escapes and tags there, so they are escaped (and `>` with them)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt(segments: Sequence[Segment]) -> str:
    cues = "".join(
        f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{_vtt_escaped(text)}\n\n"
        for s, text in _cues(segments)
    )
    return "WEBVTT\n\n" + cues


def usage(transcript: Transcript) -> wire.UsageDuration:
    return wire.UsageDuration(type="duration", seconds=round(transcript.duration, 3))


def as_json(transcript: Transcript) -> wire.TranscriptionJson:
    return wire.TranscriptionJson(text=transcript.text, usage=usage(transcript))


def as_verbose_json(
    transcript: Transcript, task: Task, granularities: Sequence[str]
) -> wire.TranscriptionVerboseJson:
    segments = None
    if "segment" in granularities or not granularities:
        segments = [
            wire.SegmentOut(
                id=s.id,
                seek=s.seek,
                start=s.start,
                end=s.end,
                text=s.text,
                tokens=list(s.tokens),
                temperature=s.temperature,
                avg_logprob=s.avg_logprob,
                compression_ratio=s.compression_ratio,
                no_speech_prob=s.no_speech_prob,
            )
            for s in transcript.segments
        ]
    words = None
    if "word" in granularities:
        words = [wire.WordOut(word=w.text.strip(), start=w.start, end=w.end) for w in transcript.words]
    return wire.TranscriptionVerboseJson(
        task=task,
        language="english" if task == "translate" else language_name(transcript.language),
        duration=round(transcript.duration, 3),
        text=transcript.text,
        segments=segments,
        words=words,
        usage=usage(transcript),
    )
