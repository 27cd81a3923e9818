"""Qwen2.5-Omni's voice, driven by omnivox's loop: the talker turns the thinker's reply rows into codec
codes one step at a time, and token2wav (a flow-matching DiT, then BigVGAN) turns codes into 24 kHz audio
in chunks, so the first words sound while the thinker is still writing; the chunks are decoded with
Qwen's sliding windows (token2wav.py), so they join as the whole answer decoded at once would.

The talker's steps follow `Qwen2_5OmniForConditionalGeneration.generate` (transformers 5.24):
- prefix: the prompt's rows (thinker embedding + last hidden, audio rows zeroed), the speaker's bos
  embedding and the first reply row; codec ids [mask * P, pad, bos]. The attention mask is passed, so the
  codec pad/bos embeddings are added to the last two positions (4.57's behaviour; 5.24's `generate`
  drops an all-ones mask and so skips them: see the study, section 3).
- step j consumes reply row j (the thinker's forward over its token j), then the text-end embedding once,
  then the text-pad embedding until the talker ends (codec end or pad code).
Codes are sampled with omnivox's sampler (temperature, top_p, the choice's seeded stream) after the
talker's own processors: repetition penalty, top-k, and the codec bos suppressed (upstream defaults).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from omnivox.audio.pcm import Audio
from omnivox.backends.omni.thinker import Heard, Replies
from omnivox.backends.omni.token2wav import StreamingToken2Wav
from omnivox.sampling.sampler import Sampler, SamplingParams

SAMPLES_PER_CODE = 480  # the DiT makes 2 mel frames per code, BigVGAN 240 samples per frame


@dataclass(frozen=True, slots=True)
class TalkerSampling:
    """How codec codes are drawn (Qwen's and vLLM-Omni's defaults); temperature 0: greedy."""

    temperature: float = 0.9
    top_p: float = 0.8
    top_k: int = 40
    repetition_penalty: float = 1.05
    max_codes: int = 4096  # 82 s of speech


@dataclass(frozen=True, slots=True)
class Chunking:
    """Codes per audio chunk (50 codes = 1 s): a short first chunk for an early first sound, then
    longer ones. Rounded up to whole DiT blocks (12 codes for Qwen2.5-Omni); a chunk is decoded once the
    codes of the block after it are there too (token2wav.py)."""

    first: int = 24
    rest: int = 96


class CodeSampler:
    """One answer's codec sampling: the talker's logit processors, then omnivox's sampler."""

    def __init__(self, sampling: TalkerSampling, seed: int | None, suppress: int) -> None:
        self._params = sampling
        params = SamplingParams(temperature=sampling.temperature, top_p=sampling.top_p, seed=seed)
        self._sampler = Sampler(params)
        self._suppress = suppress
        self._seen: set[int] = set()

    def choose(self, logits: np.ndarray) -> int:
        logits = logits.astype(np.float32, copy=True)
        if self._params.repetition_penalty != 1.0 and self._seen:
            seen = np.fromiter(self._seen, dtype=np.intp)
            values = logits[seen]
            penalty = self._params.repetition_penalty
            logits[seen] = np.where(values < 0, values * penalty, values / penalty)
        logits[self._suppress] = -np.inf
        k = self._params.top_k
        if 0 < k < logits.size:
            kth = np.partition(logits, -k)[-k]
            logits[logits < kth] = -np.inf
        code = self._sampler.choose(logits)
        self._seen.add(code)
        return code


class Voice:
    """One answer spoken by one speaker: feed it the thinker's reply rows as they come; it yields audio."""

    def __init__(
        self,
        whole: Any,
        speaker: dict[str, torch.Tensor],
        replies: Replies,
        heard: Heard,
        sampler: CodeSampler,
        sampling: TalkerSampling,
        chunking: Chunking,
        seed: int | None,
    ) -> None:
        self._whole = whole
        self._talker = whole.talker
        self._speaker = speaker
        self._replies = replies
        self._heard = heard
        self._sampler = sampler
        self._sampling = sampling
        self._chunking = chunking
        self._cache: Any = None
        self._length = 0  # positions in the talker's cache
        self._used = 0  # reply rows consumed
        self._tail = 0  # text-end / text-pad rows consumed after the reply rows
        self.codes: list[int] = []
        self._decoded = 0  # codes already turned into audio
        self._chunks = 0
        self._wav = StreamingToken2Wav(whole.token2wav, speaker, seed)
        self.ended = False
        self._pending: int | None = None  # a sampled code whose step waits for the next reply row
        self._logits = torch.zeros(0)
        self._ends = {int(self._talker.codec_eos_token), int(self._talker.codec_pad_token)}

    # --- codes ---------------------------------------------------------------------------------------

    @torch.inference_mode()
    def _embed_text(self, token: int) -> torch.Tensor:
        table = self._whole.thinker.get_input_embeddings()
        row: torch.Tensor = table(torch.tensor([[token]], device=table.weight.device))
        return row  # [1, 1, H]

    @torch.inference_mode()
    def _start(self) -> torch.Tensor:
        """The prefix forward; returns the logits of the first code."""
        from transformers import DynamicCache

        replies, talker = self._replies, self._talker
        assert replies.prompt is not None and replies.prompt_ids is not None
        ids = replies.prompt_ids
        device = ids.device
        bos = int(self._speaker["bos_token"])
        first_token = self._replies.tokens[0]
        text_ids = torch.cat([ids, torch.tensor([[bos, first_token]], device=device)], dim=1)
        codec = talker
        codec_ids = torch.cat(
            [
                torch.full_like(ids, int(codec.codec_mask_token)),
                torch.tensor([[int(codec.codec_pad_token), int(codec.codec_bos_token)]], device=device),
            ],
            dim=1,
        )
        embeds = torch.cat([replies.prompt, self._embed_text(bos), replies.rows[0]], dim=1)
        extra: dict[str, Any] = {}
        if self._heard.mask is not None:
            extra["audio_feature_lengths"] = self._heard.mask.sum(-1).to(device)
        talker.rope_deltas = None
        self._cache = DynamicCache(config=talker.config)
        self._length = codec_ids.shape[1]
        self._used = 1
        out = talker(
            input_ids=codec_ids,
            input_text_ids=text_ids,
            inputs_embeds=embeds.to(talker.dtype),
            attention_mask=torch.ones_like(codec_ids),
            cache=self._cache,
            use_cache=True,
            **extra,
        )
        logits: torch.Tensor = out.logits[0, -1]
        return logits

    def _next_row(self, writing: bool) -> torch.Tensor | None:
        """The reply row of the next step; None while the thinker has yet to write it."""
        rows = self._replies.rows
        if self._used < len(rows):
            self._used += 1
            return rows[self._used - 1]
        if writing:
            return None
        self._tail += 1
        token = self._talker.text_eos_token if self._tail == 1 else self._talker.text_pad_token
        return self._embed_text(int(token))

    @torch.inference_mode()
    def _step(self, code: int, row: torch.Tensor) -> torch.Tensor:
        talker = self._talker
        ids = torch.tensor([[code]], device=row.device)
        self._length += 1
        out = talker(
            input_ids=ids,
            thinker_reply_part=row.to(talker.dtype),
            attention_mask=torch.ones((1, self._length), dtype=torch.long, device=row.device),
            cache=self._cache,
            use_cache=True,
        )
        logits: torch.Tensor = out.logits[0, -1]
        return logits

    def advance(self, writing: bool, cancelled: threading.Event | None = None) -> Iterator[Audio]:
        """Run the talker as far as the reply rows allow (to its end once the thinker has finished,
        `writing` False), yielding each chunk of audio as soon as its codes are there; stops between
        two codes once `cancelled` is set."""
        if self._cache is None and not self.ended:
            if not self._replies.rows:
                self.ended = not writing  # ended: the thinker wrote nothing the talker can say
                return
            self._logits = self._start()
        while not self.ended:
            if cancelled is not None and cancelled.is_set():
                return
            if self._pending is None:
                code = self._sampler.choose(self._logits.float().cpu().numpy())
                if code in self._ends or len(self.codes) >= self._sampling.max_codes:
                    self.ended = True
                    break
                self.codes.append(code)
                yield from self._ready_chunks(final=False)
                self._pending = code
            row = self._next_row(writing)
            if row is None:
                return
            self._logits = self._step(self._pending, row)
            self._pending = None
        yield from self._ready_chunks(final=True)

    # --- audio ---------------------------------------------------------------------------------------

    def _ready_chunks(self, final: bool) -> Iterator[Audio]:
        """The chunks whose codes (and look-ahead codes) are there; with `final`, all the rest."""
        block = self._wav.codes_per_block
        while True:
            size = self._chunking.first if self._chunks == 0 else self._chunking.rest
            size = -(-size // block) * block
            left = len(self.codes) - self._decoded
            if not (left >= size + self._wav.lookahead or (final and left > 0)):
                return
            last = final and left < size + self._wav.lookahead  # a short rest joins the last chunk
            end = len(self.codes) if last else self._decoded + size
            yield self._wav.chunk(self.codes, self._decoded, end, final=last)
            self._decoded = end
            self._chunks += 1
