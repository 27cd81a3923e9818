"""A tiny, randomly initialised Qwen2.5-Omni model folder, built offline (no download), for tests.

`python -m omnivox.testing.tiny_omni DIR` writes a folder laid out like a downloaded Qwen2.5-Omni
checkpoint: config.json + model.safetensors (thinker, talker, token2wav), the tokenizer files with a
Qwen-style chat template, the Whisper feature extractor's preprocessor_config.json and spk_dict.pt (the
two speakers). `transformers`' own `from_pretrained` loads it, so the backend takes the path a user's
folder takes. About 314k parameters (1.3 MB): garbage text and near-silent audio, real shapes.

The recipe is the feasibility study's (../shared/research/native-audio.md, section 2):
- a byte-level BPE vocabulary of the 256 byte symbols and no merges, then 15 specials at 256-270;
- head_dim 8 for the talker (its default, 128, is wrong for hidden 32); the last DiT encoder channel
  is 3x the others; BigVGAN upsamples 5*3*2*2*2*2 = 240 times (mel at 100 Hz -> 24 kHz);
- a codec vocabulary of 64 with pad/bos/eos/mask at 59-62 (the talker's end of speech is 61).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

#: The specials after the 256 byte symbols, in id order (256..270).
SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<tts_pad>",
    "<tts_text_bos>",
    "<tts_text_eod>",
    "<|chelsie|>",
    "<|ethan|>",
)
SPECIAL_ID = {name: 256 + i for i, name in enumerate(SPECIALS)}
VOCAB_SIZE = 288  # thinker logits (the ids above 270 are never produced by the tokenizer)
CODEC = {"pad": 59, "bos": 60, "eos": 61, "mask": 62}
CODEC_VOCAB = 64
SPEAKERS = {"Chelsie": "<|chelsie|>", "Ethan": "<|ethan|>"}

#: Qwen2.5-Omni's template, reduced to text and audio parts (the real folder carries its own).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_parts() -> dict[str, dict[str, Any]]:
    """The tiny config's three parts (thinker, talker, token2wav) as plain dicts: a benchmark overrides
    the sizes and keeps the ids, which are the tiny tokenizer's."""
    ids = SPECIAL_ID
    text = {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]},
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    thinker = {
        "text_config": text,
        "audio_config": {
            "d_model": 32,
            "encoder_layers": 2,
            "encoder_attention_heads": 4,
            "encoder_ffn_dim": 64,
            "num_mel_bins": 128,
            "output_dim": 32,
        },
        "vision_config": {
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 4,
            "out_hidden_size": 32,
            "fullatt_block_indexes": [0],
        },
        "audio_token_index": ids["<|AUDIO|>"],
        "image_token_index": ids["<|IMAGE|>"],
        "video_token_index": ids["<|VIDEO|>"],
        "audio_start_token_id": ids["<|audio_bos|>"],
        "audio_end_token_id": ids["<|audio_eos|>"],
        "vision_start_token_id": ids["<|vision_bos|>"],  # read by the MRoPE index, not a declared field
        "vision_end_token_id": ids["<|vision_eos|>"],
        "user_token_id": 117,  # the byte "u": only used for video positions
    }
    talker = {
        "vocab_size": CODEC_VOCAB,
        "embedding_size": 32,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 2]},
        "audio_token_index": ids["<|AUDIO|>"],
        "image_token_index": ids["<|IMAGE|>"],
        "video_token_index": ids["<|VIDEO|>"],
        "audio_start_token_id": ids["<|audio_bos|>"],
        "audio_end_token_id": ids["<|audio_eos|>"],
        "vision_start_token_id": ids["<|vision_bos|>"],
        "vision_end_token_id": ids["<|vision_eos|>"],
        "tts_text_start_token_id": ids["<tts_text_bos>"],
        "tts_text_end_token_id": ids["<tts_text_eod>"],
        "tts_text_pad_token_id": ids["<tts_pad>"],
        "tts_codec_start_token_id": CODEC["bos"],
        "tts_codec_end_token_id": CODEC["eos"],
        "tts_codec_pad_token_id": CODEC["pad"],
        "tts_codec_mask_token_id": CODEC["mask"],
    }
    token2wav = {
        "dit_config": {
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "head_dim": 8,
            "emb_dim": 16,
            "num_embeds": CODEC_VOCAB,
            "enc_emb_dim": 16,
            "enc_dim": 16,
            "enc_channels": [16, 16, 16, 16, 48],
            "enc_attention_channels": 8,
            "enc_se_channels": 8,
            "look_ahead_layers": [1],
            "look_backward_layers": [0],
        },
        "bigvgan_config": {
            "upsample_initial_channel": 64,
            "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1, 3, 5]],
        },
    }
    return {"thinker_config": thinker, "talker_config": talker, "token2wav_config": token2wav}


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` applied, nested dicts merged key by key."""
    result = dict(base)
    for key, value in changes.items():
        old = result.get(key)
        result[key] = merged(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return result


def tiny_config(changes: dict[str, Any] | None = None) -> Any:
    from transformers import Qwen2_5OmniConfig

    return Qwen2_5OmniConfig(**merged(tiny_parts(), changes or {}))


def _tokenizer() -> Any:
    from transformers import Qwen2Tokenizer

    from omnivox.backends.omni.thinker import byte_symbols

    vocab = {symbol: i for i, symbol in enumerate(byte_symbols())}
    tokenizer = Qwen2Tokenizer(
        vocab=vocab, merges=[], unk_token=None, bos_token=None, eos_token=None, pad_token=None
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIALS)})
    tokenizer.eos_token, tokenizer.pad_token = "<|im_end|>", "<|endoftext|>"
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_omni(
    folder: Path,
    seed: int = 0,
    changes: dict[str, Any] | None = None,
    device: str = "cpu",
    dtype: str = "float32",
) -> Path:
    """Write the tiny model into `folder` (created) and return it. Deterministic for a given `seed`.
    `changes` override parts of the config (benchmarks/native_gpu.py: the real 3B sizes), `device` is
    where the random weights are made (a 3B model is made on the GPU in seconds), `dtype` how saved."""
    import torch
    from transformers import Qwen2_5OmniForConditionalGeneration, WhisperFeatureExtractor

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    for name, id_ in SPECIAL_ID.items():  # the ids the config names must be the tokenizer's
        if (got := tokenizer.convert_tokens_to_ids(name)) != id_:
            raise RuntimeError(f"the tiny tokenizer gave {name} the id {got}, not {id_}")
    with torch.device(device):
        model = Qwen2_5OmniForConditionalGeneration(tiny_config(changes)).eval()
    if dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    model.save_pretrained(folder)
    del model
    tokenizer.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=128).save_pretrained(folder)
    enc = tiny_config(changes).token2wav_config.dit_config.enc_emb_dim
    speakers = {
        name: {
            "bos_token": SPECIAL_ID[token],
            "cond": torch.randn(1, enc),
            "ref_mel": torch.randn(1, 60, 80),
        }
        for name, token in SPEAKERS.items()
    }
    torch.save(speakers, folder / "spk_dict.pt")
    (folder / "omnivox-tiny.json").write_text(json.dumps({"seed": seed, "talker_eos": CODEC["eos"]}))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write the model folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args()
    print(build_tiny_omni(args.folder, args.seed))


if __name__ == "__main__":
    main()
