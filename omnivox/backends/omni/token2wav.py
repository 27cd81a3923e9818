"""Qwen2.5-Omni's token2wav streamed as Qwen streams it: codec codes -> mel (a flow-matching DiT) -> 24 kHz
audio (BigVGAN), chunk by chunk, with sliding windows so that chunk joins are not heard.

- The DiT attends within blocks of `block_size` mel frames (24; 2 frames a code), a block back in its
  look-backward layers and a block ahead in its look-ahead ones. Each chunk's mel comes from a DiT window
  that reaches `PAST_BLOCKS` blocks before the chunk and `FUTURE_BLOCKS` after it; windows start on a block
  boundary (chunks are whole blocks), so each block sees the neighbours it sees in a whole-answer pass.
- The ODE starts from one noise tensor for the whole answer (drawn a block at a time from the answer's
  seeded generator), each window taking its frames of it, so overlapping windows start alike.
- BigVGAN decodes each chunk's mel with `2 * overlap` frames of the chunk before; the audio of each join
  is cut `overlap` frames (20, Qwen's figure for 2 frames a code) from its edge, where both sides have
  context. So a chunk's audio runs from `overlap` frames before its mel to `overlap` before its end; the
  last one to the end: the chunks join to exactly the answer's frames.
The DiT window is `Qwen2_5OmniToken2WavDiTModel.sample` (transformers 5.24) with the starting noise given
instead of drawn (checked equal to it in tests).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from omnivox.audio.pcm import Audio

OUTPUT_RATE = 24_000
PAST_BLOCKS = 2  # the DiT window's context before a chunk (Qwen: past_cache_size = 2 blocks)
FUTURE_BLOCKS = 1  # and after it (future_cache_size = 1 block): the codes a chunk waits for
STEPS, GUIDANCE, SWAY = 10, 0.5, -1.0  # the ODE: Qwen's defaults (token2wav.forward)


class StreamingToken2Wav:
    """One answer's audio, chunk by chunk: `chunk(codes, start, end, final)` with chunks of whole blocks
    (`codes_per_block`), each needing `lookahead` codes after it unless it is the last."""

    def __init__(self, token2wav: Any, speaker: dict[str, torch.Tensor], seed: int | None) -> None:
        self._dit = token2wav.code2wav_dit_model
        self._vocoder = token2wav.code2wav_bigvgan_model
        self._device = next(self._dit.parameters()).device
        self._repeats = int(self._dit.repeats)  # mel frames per code
        self._block = int(self._dit.block_size)  # mel frames
        self._overlap = 20 if self._repeats == 2 else 13  # vocoder context each side of a join (frames)
        self._hop = int(math.prod(self._vocoder.config.upsample_rates))  # samples per mel frame
        self._conditioning = speaker["cond"].to(self._device).float()
        self._reference = speaker["ref_mel"].to(self._device).float()
        self._generator = torch.Generator().manual_seed(seed if seed is not None else random.getrandbits(63))
        self._noise = torch.zeros(0, self._dit.mel_dim)  # [frames, mel_dim], drawn a block at a time
        self._tail = torch.zeros(1, self._dit.mel_dim, 0, device=self._device)  # the last chunk's end

    @property
    def codes_per_block(self) -> int:
        return self._block // self._repeats

    @property
    def lookahead(self) -> int:
        """Codes after a chunk that its window reaches (the chunk waits for them unless it is the last)."""
        return FUTURE_BLOCKS * self.codes_per_block

    def samples_per_code(self) -> int:
        return self._repeats * self._hop

    @torch.inference_mode()
    def chunk(self, codes: Sequence[int], start: int, end: int, *, final: bool) -> Audio:
        """The audio of codes [start, end) (see the module's note on where it starts and ends); `start` a
        whole number of blocks, the chunks in order, `codes` all the answer's codes so far."""
        r = self._repeats
        first, last, total = start * r, end * r, len(codes) * r
        if first % self._block or (not final and total < last + FUTURE_BLOCKS * self._block):
            raise ValueError("a chunk starts on a block and has its look-ahead codes")
        low, high = max(0, first - PAST_BLOCKS * self._block), min(total, last + FUTURE_BLOCKS * self._block)
        window = self.window(codes[low // r : high // r], self._noise_for(low, high))
        mel = window[:, :, first - low : last - low]
        context = self._tail.shape[2]
        mel = torch.cat([self._tail, mel], dim=2)
        self._tail = mel[:, :, -2 * self._overlap :]
        wave = self._vocoder(mel).reshape(-1).float()
        begin = max(0, context - self._overlap) * self._hop
        stop = wave.numel() if final else wave.numel() - self._overlap * self._hop
        return Audio(np.ascontiguousarray(wave[begin:stop].cpu().numpy(), dtype=np.float32), OUTPUT_RATE)

    def _noise_for(self, low: int, high: int) -> torch.Tensor:
        """The starting noise of mel frames [low, high): [1, frames, mel_dim]."""
        while self._noise.shape[0] < high:
            block = torch.randn([self._block, self._dit.mel_dim], generator=self._generator)
            self._noise = torch.cat([self._noise, block])
        return self._noise[low:high].unsqueeze(0).to(self._device)

    @torch.inference_mode()
    def window(self, codes: Sequence[int], noise: torch.Tensor) -> torch.Tensor:
        """The DiT's mel [1, mel_dim, frames] of `codes`, the ODE started at `noise` [1, frames, mel_dim]."""
        from transformers.models.qwen2_5_omni.modeling_qwen2_5_omni import RungeKutta4ODESolver

        code = torch.tensor([list(codes)], device=self._device)
        frames = noise.shape[1]
        conditioning = self._conditioning.unsqueeze(1).repeat(1, frames, 1)

        def velocity(time: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
            both = self._dit(
                hidden_states=state,
                quantized_code=code,
                speaker_embedding=conditioning,
                condition_vector=self._reference,
                time_step=time,
                apply_cfg=True,
            )
            guided, free = torch.chunk(both, 2, dim=0)
            result: torch.Tensor = guided + (guided - free) * GUIDANCE
            return result

        times = torch.linspace(0, 1, STEPS, device=self._device, dtype=conditioning.dtype)
        times = times + SWAY * (torch.cos(torch.pi / 2 * times) - 1 + times)
        solver = RungeKutta4ODESolver(function=velocity, initial_value=noise.to(conditioning.dtype))
        mel: torch.Tensor = solver.integrate(times)[-1].permute(0, 2, 1)
        return mel
