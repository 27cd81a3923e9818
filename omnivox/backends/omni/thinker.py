"""The thinker of a Qwen2.5-Omni model as a `LanguageModel`: token ids (and heard audio) in, raw next-token
logits out, so omnivox's own sampler, logit_bias, penalties, logprobs, seed and stop strings apply as for
every backend (omnivox.backends.logits).

What the feasibility study found and this module respects (../shared/research/native-audio.md, section 3):
- The thinker holds its MRoPE offset on the module (`thinker.model.rope_deltas`). A prefill with an
  all-ones attention mask recomputes it; decode steps pass no attention mask (positions = cache length +
  offset). One sequence at a time: the model's one worker thread drives it.
- Audio goes in as Whisper log-mel features; each <= 30 s window is its own `<|audio_bos|><|AUDIO|>*n
  <|audio_eos|>` block (the feature extractor pads or cuts to 30 s: longer audio is split, not cut).
- The processor is not used (it needs torchvision): the tokenizer and the feature extractor are.
- When speech is asked for, each forward also keeps what the talker needs: per position the input
  embedding plus the last hidden state (`Heard.reply`).
- Grammars (`constrain`) run on llguidance over a llama.cpp vocabulary made from the tokenizer
  (backends/llama_cpp/vocab.py): the same grammar and token pieces as a GGUF model's.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from omnivox.audio.pcm import Audio
from omnivox.backends.llama_cpp.vocab import HuggingFaceVocab
from omnivox.errors import ModelLoadError
from omnivox.runtimes.language_model import Evaluation, ModelInfo
from omnivox.tokens import Logits, TokenConstraint

SAMPLE_RATE = 16_000  # what the Whisper feature extractor takes
WINDOW_SECONDS = 30  # its window: longer audio is split into windows of this length
AUDIO_TOKENS = ("<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>")


def audio_token_count(frames: int) -> int:
    """`<|AUDIO|>` tokens for `frames` valid mel frames (10 ms each): the audio encoder halves twice."""
    return ((frames - 1) // 2 + 1 - 2) // 2 + 1


def byte_symbols() -> list[str]:
    """GPT-2's byte-to-unicode table: the printable stand-in of each byte in byte-level BPE, in byte order."""
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)}
    printable |= set(range(ord("®"), ord("ÿ") + 1))
    symbols, extra = [], 0
    for b in range(256):
        symbols.append(chr(b) if b in printable else chr(256 + extra))
        extra += b not in printable
    return symbols


@dataclass(slots=True)
class Heard:
    """The audio of one prompt as the thinker takes it: features of each <= 30 s window, [W, 128, 3000],
    their valid-frame masks [W, 3000], and the `<|AUDIO|>` count of each window."""

    features: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    counts: tuple[int, ...] = ()
    digest: str = ""  # identifies the audio (the prompt cache key includes it)


@dataclass(slots=True)
class Replies:
    """What the talker needs of the thinker's forwards: the prompt's (embedding + last hidden) rows, with
    audio positions' embeddings zeroed as `generate` does, and one reply row per appended token."""

    prompt_ids: torch.Tensor | None = None  # [1, P]
    prompt: torch.Tensor | None = None  # [1, P, H]
    rows: list[torch.Tensor] = field(default_factory=list)  # each [1, 1, H]
    tokens: list[int] = field(default_factory=list)  # the appended tokens, row by row


class OmniThinker:
    """A Qwen2.5-Omni model folder's thinker (and, held here for the talker, the whole model)."""

    def __init__(
        self,
        folder: Path,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        context_window: int = 8192,
        threads: int | None = None,
        speech: bool = True,
        name: str = "omni",
    ) -> None:
        from transformers import (
            AutoTokenizer,
            Qwen2_5OmniForConditionalGeneration,
            Qwen2_5OmniThinkerForConditionalGeneration,
            WhisperFeatureExtractor,
        )

        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"not a Qwen2.5-Omni model folder (no config.json): {folder}")
        if threads is not None:
            torch.set_num_threads(threads)
        self.device = _device(device)
        torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
            self.features = WhisperFeatureExtractor.from_pretrained(folder)
            if speech:
                load = Qwen2_5OmniForConditionalGeneration.from_pretrained
                self.whole: Any = load(folder, dtype=torch_dtype)
                self.thinker: Any = self.whole.thinker
            else:
                self.whole = None
                self.thinker = Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(
                    folder, dtype=torch_dtype
                )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"cannot load the Qwen2.5-Omni folder {folder}: {exc}") from exc
        if self.whole is not None:
            self.whole.to(self.device).eval()
            self.whole.token2wav.float()  # the vocoder runs in fp32 whatever the rest does
        else:
            self.thinker.to(self.device).eval()
        config = self.thinker.config
        self.audio_token = int(config.audio_token_index)
        self._vocab = int(config.text_config.vocab_size)
        self._bytes = {symbol: b for b, symbol in enumerate(byte_symbols())}
        self._ends = {
            i
            for i in (self.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>"))
            if isinstance(i, int) and i >= 0
        }
        self._specials = set(self.tokenizer.all_special_ids) | set(self.tokenizer.added_tokens_decoder)
        self._grammar_vocab = HuggingFaceVocab(self.tokenizer, self._vocab, self._ends)
        template = self.tokenizer.chat_template
        if not isinstance(template, str):
            raise ModelLoadError(f"the folder {folder} has no chat template")
        self._info = ModelInfo(
            context_window=context_window,
            trained_context=int(config.text_config.max_position_embeddings),
            vocab_size=self._vocab,
            chat_template=template,
            bos_token="",
            eos_token="<|im_end|>",
            add_bos=False,
            fingerprint=f"fp_omni_{_folder_digest(folder)}",
            created=int((folder / "config.json").stat().st_mtime),
            grammars=True,
        )
        self._name = name
        self._cache: Any = None
        self._heard = Heard()
        self.replies: Replies | None = None  # set by the caller to record what the talker needs

    @property
    def info(self) -> ModelInfo:
        return self._info

    # --- tokens --------------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def token_bytes(self, token: int) -> bytes:
        piece = self.tokenizer.convert_ids_to_tokens(token)
        if piece is None:
            return b""
        if token in self._specials:
            return str(piece).encode()
        return bytes(self._bytes.get(c, 0x3F) for c in str(piece))

    def is_end_of_generation(self, token: int) -> bool:
        return token in self._ends

    def constrain(self, grammar: str) -> TokenConstraint:
        return self._grammar_vocab.constrain(grammar)

    # --- audio ---------------------------------------------------------------------------------------

    def hear(self, clips: Sequence[Audio]) -> tuple[Heard, list[int]]:
        """Features for the prompt's audio, and the `<|AUDIO|>` count of each clip (over its windows)."""
        windows: list[np.ndarray] = []
        per_clip: list[int] = []
        digest = hashlib.sha256()
        for clip in clips:
            samples = clip.resampled(SAMPLE_RATE).samples
            digest.update(samples.tobytes())
            step = WINDOW_SECONDS * SAMPLE_RATE
            pieces = [samples[i : i + step] for i in range(0, max(len(samples), 1), step)]
            windows.extend(p if len(p) else np.zeros(SAMPLE_RATE // 10, dtype=np.float32) for p in pieces)
            per_clip.append(len(pieces))
        if not windows:
            return Heard(), []
        extracted = self.features(
            windows,
            sampling_rate=SAMPLE_RATE,
            return_attention_mask=True,
            padding="max_length",
            return_tensors="pt",
        )
        mask = extracted["attention_mask"]
        counts = tuple(audio_token_count(int(n)) for n in mask.sum(-1).tolist())
        heard = Heard(extracted["input_features"], mask, counts, digest.hexdigest())
        return heard, per_clip

    def audio_text(self, counts: Sequence[int]) -> str:
        """The prompt text standing for one clip of these windows' `<|AUDIO|>` counts."""
        bos, audio, eos = AUDIO_TOKENS
        return "".join(f"{bos}{audio * n}{eos}" for n in counts)

    def listen(self, heard: Heard) -> None:
        """The audio of the prompt evaluated next (on the worker thread, before `evaluate`)."""
        self._heard = heard

    # --- evaluation ----------------------------------------------------------------------------------

    def evaluate(self, tokens: Sequence[int], cancelled: threading.Event | None = None) -> Evaluation:
        """A fresh prefill of `tokens` with the audio given to `listen`: the MRoPE offset and the cache
        start anew (the cache is not shared between requests: see docs/native-audio.md)."""
        from transformers import DynamicCache

        ids = torch.tensor([list(tokens)], dtype=torch.long, device=self.device)
        heard = self._heard
        if int((ids == self.audio_token).sum()) != sum(heard.counts):
            raise ValueError("the prompt's <|AUDIO|> tokens do not match the audio heard")
        audio: dict[str, Any] = {}
        if heard.features is not None and heard.mask is not None:
            audio = {
                "input_features": heard.features.to(self.device, self.thinker.dtype),
                "feature_attention_mask": heard.mask.to(self.device),
            }
        self.thinker.model.rope_deltas = None
        self._cache = DynamicCache(config=self.thinker.config.text_config)
        recording = self.replies is not None
        with torch.inference_mode():
            out = self.thinker(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                cache=self._cache,
                use_cache=True,
                output_hidden_states=recording,
                **audio,
            )
        if self.replies is not None:
            embeds = out.hidden_states[0].clone()
            embeds[ids == self.audio_token] = 0  # as `generate` does: the talker never sees audio rows
            self.replies.prompt_ids = ids
            self.replies.prompt = out.hidden_states[-1] + embeds
            self.replies.rows.clear()
            self.replies.tokens.clear()
        return Evaluation(_last(out.logits), 0)

    def append(self, token: int) -> Logits:
        ids = torch.tensor([[token]], dtype=torch.long, device=self.device)
        recording = self.replies is not None
        with torch.inference_mode():
            out = self.thinker(
                input_ids=ids, cache=self._cache, use_cache=True, output_hidden_states=recording
            )
        if self.replies is not None:
            self.replies.rows.append(out.hidden_states[-1] + out.hidden_states[0])
            self.replies.tokens.append(token)
        return _last(out.logits)

    def close(self) -> None:
        self._cache = None
        self._grammar_vocab.close()


def _device(name: str) -> torch.device:
    """The device the settings name, checked before any weight is read: a CUDA device this torch cannot
    use is a load error that says why, not a failure halfway through loading."""
    device = torch.device(name)
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ModelLoadError(
            f"device {name!r}: this torch ({torch.__version__}) sees no CUDA device; "
            'install a CUDA build of torch, or set device = "cpu"'
        )
    count = torch.cuda.device_count()
    if (device.index or 0) >= count:
        raise ModelLoadError(
            f"device {name!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return device


def _last(logits: torch.Tensor) -> Logits:
    """The next-token logits of the last position, as float32 numpy the caller owns."""
    result: Logits = logits[0, -1].float().cpu().numpy().copy()
    return result


def _folder_digest(folder: Path) -> str:
    """Identifies the weights: name, size and time of the folder's files (not their content: GBs)."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:10]
