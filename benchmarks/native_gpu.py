"""The transformers-omni backend's speed and memory at the real Qwen2.5-Omni-3B shape, with random weights:
prompt tokens/s (audio + text prefill), decode tokens/s (omnivox's loop and sampler over the thinker),
time to the first audio chunk of a spoken answer (thinker + talker + token2wav, as served), peak memory.

    python -m benchmarks.native_gpu                       # CUDA, bf16, the 3B shape
    python -m benchmarks.native_gpu --device cpu --shape tiny --dtype float32   # the CPU path, in seconds

Random weights cost what real ones cost (same shapes, same kernels); only what they say differs, so the
answer length is fixed (end of turn banned) and the talker's length is capped. The model folder is built
with omnivox.testing.tiny_omni at the chosen sizes (its tokenizer: token ids stay below 271 of the 151,936
rows, which changes no cost), saved, then loaded through the backend exactly as a downloaded folder is.
Needs no network and no weights: a GPU machine with torch and transformers==5.24.0 is enough.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

#: Qwen2.5-Omni-3B's sizes (its config.json: thinker text 2048 x 36 layers, 16 heads, 2 KV heads, vocab
#: 151,936; the Whisper-large-v3-sized audio encoder; the talker 896 x 24; token2wav at its defaults).
#: The talker's MRoPE split is assumed (head_dim 64 -> 32 rotary pairs); everything else is as published.
SHAPE_3B: dict[str, Any] = {
    "thinker_config": {
        "text_config": {
            "vocab_size": 151936,
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": [16, 24, 24],
            },
        },
        "audio_config": {
            "d_model": 1280,
            "encoder_layers": 32,
            "encoder_attention_heads": 20,
            "encoder_ffn_dim": 5120,
            "output_dim": 2048,
        },
        "vision_config": {
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "fullatt_block_indexes": [7, 15, 23, 31],
        },
    },
    "talker_config": {
        "vocab_size": 8448,
        "embedding_size": 2048,
        "hidden_size": 896,
        "intermediate_size": 4864,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [8, 12, 12]},
        "tts_codec_start_token_id": 8293,
        "tts_codec_end_token_id": 8294,
        "tts_codec_pad_token_id": 8292,
        "tts_codec_mask_token_id": 8296,
    },
    "token2wav_config": {
        "dit_config": {
            "hidden_size": 1024,
            "num_hidden_layers": 22,
            "num_attention_heads": 16,
            "head_dim": 64,
            "emb_dim": 512,
            "num_embeds": 8193,
            "enc_emb_dim": 192,
            "enc_dim": 128,
            "enc_channels": [256, 256, 256, 256, 768],
            "enc_attention_channels": 64,
            "enc_se_channels": 64,
            "look_ahead_layers": [10],
            "look_backward_layers": [0, 20],
        },
        "bigvgan_config": {
            "upsample_initial_channel": 1536,
            "resblock_kernel_sizes": [3, 7, 11],
            "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        },
    },
}


def _sync(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _tone(seconds: float) -> Any:
    from omnivox.audio.pcm import Audio

    t = np.arange(int(seconds * 16_000), dtype=np.float32) / 16_000
    return Audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000)


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    import torch

    from omnivox.backends.logits.generate import GenerationJob
    from omnivox.backends.logits.structured import schema_grammar
    from omnivox.backends.omni.model import OmniChatModel, _run
    from omnivox.config import OmniModelSettings
    from omnivox.runtimes.chat_model import Conversation, GenerationSpec
    from omnivox.runtimes.events import AudioDelta, TextDelta
    from omnivox.runtimes.worker import ModelWorker
    from omnivox.sampling.sampler import SamplingParams
    from omnivox.testing.tiny_omni import SPECIAL_ID, build_tiny_omni

    figures: dict[str, Any] = {"torch": torch.__version__, "device": args.device, "dtype": args.dtype}
    if args.device.startswith("cuda"):
        figures["gpu"] = torch.cuda.get_device_name(0)
    started = time.perf_counter()
    changes = SHAPE_3B if args.shape == "3b" else {}
    build_tiny_omni(folder, changes=changes, device=args.device, dtype=args.dtype)
    figures["build_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    settings = OmniModelSettings.model_validate(
        {
            "id": "bench",
            "backend": "transformers-omni",
            "source": str(folder),
            "device": args.device,
            "dtype": args.dtype,
            "threads": args.threads,
            "context_window": 32768,
        }
    )
    model = OmniChatModel(settings, ModelWorker("bench", 2))
    figures["load_s"] = round(time.perf_counter() - started, 1)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    no_end = ((SPECIAL_ID["<|im_end|>"], -100.0), (SPECIAL_ID["<|endoftext|>"], -100.0))
    words = " ".join(["the"] * args.prompt_words)
    conversation = Conversation(
        [{"role": "user", "content": f"{words} [audio input 1]"}], audio=[_tone(args.audio_seconds)]
    )
    thinker = model._thinker

    def one(voice: str | None, grammar: str | None = None) -> tuple[list[float], list[float], int]:
        """(seconds of each text delta, seconds of each audio chunk, prompt tokens) of one answer."""
        spec = GenerationSpec(
            SamplingParams(temperature=0.0, seed=1, logit_bias=no_end), args.decode_tokens, (), voice=voice
        )
        prompt = model._omni_prompt(conversation, spec)
        job = GenerationJob.of(prompt.ids, spec, prompt.audio_tokens, grammar)
        make = functools.partial(model._voice, prompt, 1) if voice else None
        texts, audio = [], []
        _sync(torch, args.device)
        begin = time.perf_counter()
        for event in _run(thinker, job, False, prompt.heard, make, None, threading.Event()):
            _sync(torch, args.device)
            if isinstance(event, TextDelta):
                texts.append(time.perf_counter() - begin)
            elif isinstance(event, AudioDelta) and event.audio.samples.size:
                audio.append(time.perf_counter() - begin)
        return texts, audio, len(prompt.ids)

    one(None)  # warm-up: kernels, allocator
    for _ in range(args.runs):
        texts, _, prompt_tokens = one(None)
        figures.setdefault("prompt_tokens", prompt_tokens)
        figures.setdefault("prefill_s", []).append(round(texts[0], 4))
        decode = (texts[-1] - texts[0]) / max(len(texts) - 1, 1)
        figures.setdefault("decode_tok_s", []).append(round(1 / decode, 1))
    figures["prompt_tok_s"] = round(prompt_tokens / float(np.median(figures["prefill_s"])), 1)
    # under a JSON grammar (one string property: the answer runs to the token limit), llama.cpp's engine
    # over the tokenizer's vocabulary masking each step (the builder's tokenizer: 271 real tokens)
    grammar = schema_grammar({"type": "object", "properties": {"text": {"type": "string"}}}, param="bench")
    for _ in range(args.runs):
        texts, _, _ = one(None, grammar)
        decode = (texts[-1] - texts[0]) / max(len(texts) - 1, 1)
        figures.setdefault("decode_json_tok_s", []).append(round(1 / decode, 1))
    model.talker_sampling = type(model.talker_sampling)(max_codes=args.max_codes)
    for _ in range(args.runs):
        texts, audio, _ = one("alloy")
        figures.setdefault("first_audio_s", []).append(round(audio[0], 3) if audio else None)
        figures.setdefault("spoken_total_s", []).append(round((audio or texts)[-1], 3))
    if args.device.startswith("cuda"):
        figures["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    figures["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=["3b", "tiny"], default="3b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch's default: all)")
    parser.add_argument("--audio-seconds", type=float, default=10.0, help="input audio (a tone)")
    parser.add_argument("--prompt-words", type=int, default=400, help="text words before the audio")
    parser.add_argument("--decode-tokens", type=int, default=128, help="answer length (end of turn banned)")
    parser.add_argument("--max-codes", type=int, default=300, help="talker codes per spoken answer (6 s)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--folder", type=Path, default=None, help="where to build the model (default: a temp dir)"
    )
    args = parser.parse_args()
    if args.folder is not None:
        print(json.dumps(run(args, args.folder)))
        return
    with tempfile.TemporaryDirectory(prefix="omnivox-native-") as folder:
        print(json.dumps(run(args, Path(folder))))


if __name__ == "__main__":
    main()
