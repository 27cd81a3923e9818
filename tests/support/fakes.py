"""A fake language model implementing the real runtime Protocol, for fast tests of everything above it.

Vocabulary: ids 0..255 are single bytes, then a few special tokens. The model "wants" to say a scripted
reply: at each step the next byte of the script gets logit `confidence` and every other token 0, so greedy
decoding reproduces the script exactly and sampling mostly does.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from omnivox.runtimes.language_model import Evaluation, ModelInfo
from omnivox.tokens import Logits, TokenConstraint

EOS, IM_START, IM_END = 256, 257, 258
SPECIALS = {"<eos>": EOS, "<|im_start|>": IM_START, "<|im_end|>": IM_END}
VOCAB = 259
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_SPECIAL_RE = re.compile("|".join(re.escape(s) for s in SPECIALS))


def echo_script(prompt_text: str) -> str:
    """Default script: repeats the last user message."""
    turns = re.findall(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", prompt_text, flags=re.S)
    return f"You said: {turns[-1] if turns else ''}"


class FakeLanguageModel:
    def __init__(
        self,
        script: Callable[[str], str] = echo_script,
        *,
        context_window: int = 4096,
        confidence: float = 10.0,
        delay: float = 0.0,
        fail_after: int | None = None,
        chat_template: str = CHATML,
        grammars: bool = False,
    ) -> None:
        self._script = script
        self._confidence = confidence
        self.delay = delay  # seconds per evaluated step, to make generation observable
        self.fail_after = fail_after  # raise on the n-th append (a runtime failure mid-stream)
        self._info = ModelInfo(
            context_window=context_window,
            trained_context=context_window,
            vocab_size=VOCAB,
            chat_template=chat_template,
            bos_token="",
            eos_token="<eos>",
            add_bos=False,
            fingerprint="fp_fake",
            created=1_700_000_000,
            grammars=grammars,  # claims grammar support: requests are checked, `constrain` is not there
        )
        self._sequence: list[int] = []
        self._target: bytes = b""
        self._prompt_len = 0
        self.appends = 0  # total append() calls, to observe cancellation
        self.generating = threading.Event()

    @property
    def info(self) -> ModelInfo:
        return self._info

    def tokenize(self, text: str) -> list[int]:
        tokens: list[int] = []
        pos = 0
        for match in _SPECIAL_RE.finditer(text):
            tokens += text[pos : match.start()].encode()
            tokens.append(SPECIALS[match.group()])
            pos = match.end()
        tokens += text[pos:].encode()
        return tokens

    def detokenize(self, tokens: Sequence[int]) -> str:
        names = {v: k for k, v in SPECIALS.items()}
        out = b"".join(bytes([t]) if t < 256 else names[t].encode() for t in tokens)
        return out.decode("utf-8", "replace")

    def token_bytes(self, token: int) -> bytes:
        return bytes([token]) if token < 256 else b""

    def is_end_of_generation(self, token: int) -> bool:
        return token in (EOS, IM_END)

    def _logits(self) -> Logits:
        if self.delay:
            time.sleep(self.delay)
        done = len(self._sequence) - self._prompt_len
        logits = np.zeros(VOCAB, dtype=np.float32)
        generated = bytes(t for t in self._sequence[self._prompt_len :] if t < 256)
        on_script = self._target.startswith(generated) and done == len(generated)
        nxt = self._target[done] if on_script and done < len(self._target) else EOS
        logits[nxt] = self._confidence
        return logits

    def evaluate(self, tokens: Sequence[int], cancelled: threading.Event | None = None) -> Evaluation:
        reused = 0
        while reused < min(len(tokens) - 1, len(self._sequence)) and tokens[reused] == self._sequence[reused]:
            reused += 1
        self._sequence = list(tokens)
        self._prompt_len = len(tokens)
        self._target = self._script(self.detokenize(tokens)).encode()
        self.generating.set()
        return Evaluation(self._logits(), reused)

    def append(self, token: int) -> Logits:
        self.appends += 1
        if self.fail_after is not None and self.appends >= self.fail_after:
            raise RuntimeError("fake runtime failure")
        self._sequence.append(token)
        return self._logits()

    def constrain(self, grammar: str) -> TokenConstraint:
        raise NotImplementedError("the fake language model has no grammar engine")

    def close(self) -> None:
        pass
