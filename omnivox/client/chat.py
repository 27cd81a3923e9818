"""`omnivox chat`: a terminal voice chat with an omnivox server (or any server of OpenAI's chat API with
audio), local or remote. Type a line, or `/wav FILE` to speak a WAV file, or `/mic` to speak into the
microphone (when a sound device exists); the answer streams as text, is played when a sound device
exists, and is saved as WAV with `--save`. A spinner shows while the server has not answered yet."""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from omnivox.client.api import Api, ApiError
from omnivox.client.sound import Player, has_device, record_until_enter

HELP = "type a message; /wav FILE speaks a WAV file; /mic records (Enter to send); /reset; /quit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=os.environ.get("OMNIVOX_BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--api-key",
        default=os.environ.get("OMNIVOX_API_KEY") or os.environ.get("OPENAI_API_KEY"),
        help="sent as a bearer token (default: $OMNIVOX_API_KEY or $OPENAI_API_KEY)",
    )
    parser.add_argument("--model", help="chat model (default: the first /v1/models lists)")
    parser.add_argument("--voice", default="alloy", help="answer voice (default alloy)")
    parser.add_argument("--text-only", action="store_true", help="ask for text answers only")
    parser.add_argument("--system", help="system prompt")
    parser.add_argument("--say", help="send this message, print the answer and exit")
    parser.add_argument("--wav", type=Path, help="send this WAV file as spoken input and exit")
    parser.add_argument(
        "--save", type=Path, help="write each spoken answer here (WAV; numbered after the first)"
    )
    parser.add_argument("--no-play", action="store_true", help="do not play answers even with a sound device")


@dataclass
class Session:
    api: Api
    model: str
    voice: str | None  # None: text answers
    system: str | None
    play: bool
    save: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    answers: int = 0

    def say(self, text: str) -> None:
        self._turn(text, text)

    def speak(self, wav: bytes) -> None:
        heard = self.api.transcribe(wav)
        print(f"you said: {heard}", file=sys.stdout, flush=True)
        data = base64.b64encode(wav).decode()
        part = {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
        self._turn([part], heard)

    def _body(self, content: Any) -> dict[str, Any]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [*system, *self.history, {"role": "user", "content": content}],
        }
        if self.voice:
            body["modalities"] = ["text", "audio"]
            body["audio"] = {"voice": self.voice, "format": "pcm16"}
        return body

    def _turn(self, content: Any, words: str) -> None:
        player = Player(self.play and self.voice is not None)
        text: list[str] = []
        with Spinner(sys.stderr) as spinner:
            for event in self.api.stream_chat(self._body(content)):
                for piece, pcm in _pieces(event):
                    spinner.stop()
                    if piece:
                        text.append(piece)
                        print(piece, end="", file=sys.stdout, flush=True)
                    if pcm:
                        player.feed(pcm)
        print(file=sys.stdout, flush=True)
        player.finish()
        self.history += [{"role": "user", "content": words}, {"role": "assistant", "content": "".join(text)}]
        if self.save is not None and player.pcm:
            path = self.save if not self.answers else _numbered(self.save, self.answers)
            player.save(path)
            print(f"saved {player.seconds:.1f} s of audio to {path}", file=sys.stderr, flush=True)
        self.answers += 1


def _pieces(event: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(text, pcm16) of choice 0 in one chunk: text from `content` or the spoken transcript."""
    pieces = []
    for choice in event.get("choices") or []:
        delta = choice.get("delta") or {}
        if choice.get("index", 0) != 0:
            continue
        audio = delta.get("audio") or {}
        text = (delta.get("content") or "") + (audio.get("transcript") or "")
        pcm = base64.b64decode(audio["data"]) if audio.get("data") else b""
        pieces.append((text, pcm))
    return pieces


def _numbered(path: Path, n: int) -> Path:
    return path.with_name(f"{path.stem}-{n + 1}{path.suffix}")


class Spinner:
    """While waiting for the first piece of an answer: a spinner and the seconds waited on a terminal, one
    line otherwise."""

    FRAMES = "|/-\\"

    def __init__(self, err: TextIO, every: float = 0.1) -> None:
        self._err = err
        self._every = every
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    def __enter__(self) -> Spinner:
        if self._err.isatty():
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()
        else:
            print("waiting for the answer...", file=self._err, flush=True)
        return self

    def _spin(self) -> None:
        for frame in itertools.cycle(self.FRAMES):
            if self._done.wait(self._every):
                break
            waited = time.monotonic() - self._started
            print(f"\r{frame} waiting for the answer {waited:4.1f} s", end="", file=self._err, flush=True)
        print("\r\033[K", end="", file=self._err, flush=True)

    def stop(self) -> None:
        if not self._done.is_set():
            self._done.set()
            if self._thread is not None:
                self._thread.join()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def run(args: argparse.Namespace, read_line: Callable[[str], str] = input) -> int:
    api = Api(args.base_url, args.api_key)
    try:
        model = args.model or next(iter(api.chat_models()), None)
    except ApiError as exc:
        print(f"omnivox chat: {exc}", file=sys.stderr)
        return 1
    if model is None:
        print("omnivox chat: the server lists no chat model", file=sys.stderr)
        return 1
    play = not args.no_play and not args.text_only and has_device("playback")
    session = Session(api, model, None if args.text_only else args.voice, args.system, play, args.save)
    try:
        if args.say is not None or args.wav is not None:
            if args.say is not None:
                session.say(args.say)
            if args.wav is not None:
                session.speak(args.wav.read_bytes())
            return 0
    except (ApiError, OSError) as exc:
        print(f"omnivox chat: {exc}", file=sys.stderr)
        return 1
    return _loop(session, read_line)


def _loop(session: Session, read_line: Callable[[str], str]) -> int:
    sound = "played" if session.play else "not played (no sound device)"
    print(f"omnivox chat with {session.model} at {session.api.base_url}; answers {sound}", file=sys.stderr)
    print(HELP, file=sys.stderr)
    while True:
        try:
            line = read_line("> ").strip()
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return 0
        try:
            if not _command(session, line):
                return 0
        except (ApiError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)


def _command(session: Session, line: str) -> bool:
    """Does what the line says; False to quit."""
    if line in ("/quit", "/exit"):
        return False
    if line == "/reset":
        session.history.clear()
    elif line.startswith("/wav "):
        session.speak(Path(line.removeprefix("/wav ").strip()).expanduser().read_bytes())
    elif line == "/mic":
        if has_device("capture"):
            session.speak(record_until_enter())
        else:
            print("no capture device (arecord -l lists none): use /wav FILE", file=sys.stderr)
    elif line.startswith("/"):
        print(HELP, file=sys.stderr)
    elif line:
        session.say(line)
    return True
