"""The transformers-omni backend on a tiny random Qwen2.5-Omni built at test time (omnivox.testing.tiny_omni),
loaded through the same `from_pretrained` path as a downloaded folder. Its text and audio are noise: the
tests assert equivalence, shapes, rates and determinism, never content."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from omnivox.audio.pcm import Audio
from omnivox.backends.logits.generate import GenerationJob, generate
from omnivox.backends.omni.model import OmniChatModel, OmniPrompt, _run
from omnivox.backends.omni.talker import (
    SAMPLES_PER_CODE,
    Chunking,
    CodeSampler,
    TalkerSampling,
    Voice,
)
from omnivox.backends.omni.thinker import OmniThinker, Replies
from omnivox.backends.omni.token2wav import OUTPUT_RATE, StreamingToken2Wav
from omnivox.config import QWEN_OMNI_SYSTEM_PROMPT
from omnivox.errors import InvalidRequest, ModelLoadError
from omnivox.runtimes.chat_model import Conversation, GenerationSpec
from omnivox.runtimes.events import AudioDelta, Event, Finished, TextDelta
from omnivox.runtimes.language_model import Evaluation
from omnivox.runtimes.worker import ModelWorker
from omnivox.sampling.sampler import SamplingParams
from omnivox.testing.tiny_omni import SPECIAL_ID
from omnivox.tokens import Logits
from tests.support.omni import omni_settings

#: The tiny model's end-of-turn tokens, banned where a test needs a long answer.
NO_END = ((SPECIAL_ID["<|im_end|>"], -100.0), (SPECIAL_ID["<|endoftext|>"], -100.0))


def _tone(seconds: float, rate: int = 16_000) -> Audio:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return Audio((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)


class _Recording:
    """The thinker, with every logits vector it hands the loop kept."""

    def __init__(self, thinker: OmniThinker) -> None:
        self._thinker = thinker
        self.logits: list[Logits] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._thinker, name)

    def evaluate(self, tokens: list[int], cancelled: threading.Event | None = None) -> Evaluation:
        evaluation = self._thinker.evaluate(tokens, cancelled)
        self.logits.append(evaluation.logits.copy())
        return evaluation

    def append(self, token: int) -> Logits:
        logits = self._thinker.append(token)
        self.logits.append(logits.copy())
        return logits


@pytest.fixture(scope="module")
def model(tiny_omni: Path) -> OmniChatModel:
    return OmniChatModel(omni_settings(tiny_omni), ModelWorker("omni-test", 4))


def _prompt(model: OmniChatModel, spec: GenerationSpec, audio: list[Audio]) -> OmniPrompt:
    content = "Listen: " + " ".join(f"[audio input {i + 1}]" for i in range(len(audio)))
    return model._omni_prompt(Conversation([{"role": "user", "content": content}], audio=audio), spec)


def _events(model: OmniChatModel, prompt: OmniPrompt, spec: GenerationSpec) -> list[Event]:
    job = GenerationJob(prompt.ids, spec.sampling, spec.max_tokens, spec.stop, 1, None, prompt.audio_tokens)
    voice = functools.partial(model._voice, prompt, spec.sampling.seed) if prompt.speaker else None
    return list(_run(model._thinker, job, False, prompt.heard, voice, None, threading.Event()))


def test_our_loop_matches_generate_bit_exactly(model: OmniChatModel) -> None:
    """Greedy text from omnivox's loop and sampler over the thinker's logits == `thinker.generate`,
    token for token and logit for logit (end of turn banned on both sides: 24 tokens)."""
    spec = GenerationSpec(SamplingParams(temperature=0, logit_bias=NO_END), 24, ())
    prompt = _prompt(model, spec, [_tone(1.5)])
    thinker = model._thinker
    recording = _Recording(thinker)
    thinker.listen(prompt.heard)
    job = GenerationJob(prompt.ids, spec.sampling, 24, ())
    list(generate(recording, job, threading.Event()))  # type: ignore[arg-type]
    ours = [int(np.argmax(_biased(logits))) for logits in recording.logits]
    ids = torch.tensor([prompt.ids])
    reference = thinker.thinker.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        input_features=prompt.heard.features,
        feature_attention_mask=prompt.heard.mask,
        do_sample=False,
        max_new_tokens=24,
        suppress_tokens=[t for t, _ in NO_END],
        output_logits=True,
        return_dict_in_generate=True,
    )
    assert reference.sequences[0, len(prompt.ids) :].tolist() == ours
    assert len(reference.logits) == len(recording.logits) == 24
    for theirs, mine in zip(reference.logits, recording.logits, strict=True):
        assert np.array_equal(theirs[0].float().numpy(), mine)  # max |diff| = 0


def _biased(logits: Logits) -> Logits:
    biased = logits.copy()
    biased[[t for t, _ in NO_END]] = -np.inf
    return biased


def test_audio_beyond_30_s_is_split_not_truncated(model: OmniChatModel) -> None:
    spec = GenerationSpec(SamplingParams(temperature=0), 2, ())
    prompt = _prompt(model, spec, [_tone(40.0), _tone(1.5)])
    assert prompt.heard.counts == (750, 250, 37)  # 30 s + 10 s windows of the first clip, then the second
    assert prompt.audio_tokens == 750 + 250 + 37 + 2 * 3  # with each window's audio_bos/eos
    events = _events(model, prompt, spec)
    assert isinstance(events[-2], Finished)


def test_voices_map_to_the_speakers(model: OmniChatModel) -> None:
    assert model.speakers == ["Chelsie", "Ethan"]
    assert model.speaker_for("alloy") == "Chelsie"
    assert model.speaker_for("onyx") == "Ethan"
    assert model.speaker_for("ethan") == "Ethan"
    with pytest.raises(InvalidRequest) as refused:
        model.speaker_for("bagpipes")
    assert refused.value.param == "audio.voice"


def test_a_spoken_answer_gets_the_required_system_prompt_first(model: OmniChatModel) -> None:
    spec = GenerationSpec(SamplingParams(temperature=0), 2, (), voice="alloy")
    conversation = Conversation(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    )
    prompt = model._omni_prompt(conversation, spec)
    text = model._thinker.tokenizer.decode(list(prompt.ids))
    assert text.startswith(f"<|im_start|>system\n{QWEN_OMNI_SYSTEM_PROMPT}\n\nBe brief.<|im_end|>")
    plain = model._omni_prompt(conversation, GenerationSpec(SamplingParams(temperature=0), 2, ()))
    assert QWEN_OMNI_SYSTEM_PROMPT not in model._thinker.tokenizer.decode(list(plain.ids))


def _spoken(model: OmniChatModel, seed: int) -> list[Event]:
    spec = GenerationSpec(SamplingParams(temperature=1.0, seed=seed, logit_bias=NO_END), 60, (), voice="echo")
    return _events(model, _prompt(model, spec, [_tone(1.5)]), spec)


def test_speech_streams_while_the_thinker_writes_and_is_reproducible(model: OmniChatModel) -> None:
    events = _spoken(model, seed=7)
    kinds = [type(e).__name__ for e in events]
    audio = [e for e in events if isinstance(e, AudioDelta)]
    texts = [e for e in events if isinstance(e, TextDelta)]
    assert audio, kinds
    # the first chunk (24 codes + 12 ahead, a code per text token) is heard before the last words
    assert kinds.index("AudioDelta") < len(kinds) - 1 - kinds[::-1].index("TextDelta")
    assert all(a.audio.sample_rate == OUTPUT_RATE for a in audio)
    # the first chunk: 24 codes (2 DiT blocks), less the 20 mel frames held back for the join
    assert audio[0].audio.samples.size == 24 * SAMPLES_PER_CODE - 20 * 240
    assert sum(a.audio.samples.size for a in audio) % SAMPLES_PER_CODE == 0  # whole codes in all
    assert "".join(a.transcript for a in audio) == "".join(t.text for t in texts)
    again = _spoken(model, seed=7)
    assert [type(e) for e in again] == [type(e) for e in events]
    for first, second in zip(audio, [e for e in again if isinstance(e, AudioDelta)], strict=True):
        assert np.array_equal(first.audio.samples, second.audio.samples)
    other = [e for e in _spoken(model, seed=8) if isinstance(e, TextDelta)]
    assert "".join(t.text for t in other) != "".join(t.text for t in texts)


def test_talker_codes_match_generate_greedy(model: OmniChatModel) -> None:
    """Greedy codes of our talker loop == `talker.generate` given the same prefix. 5.24's `generate`
    drops an all-ones mask and so skips the codec pad/bos embeddings of the prefix (the study's
    regression); here they are added to its prefix by hand, which is what our loop does with the mask."""
    spec = GenerationSpec(SamplingParams(temperature=0, logit_bias=NO_END), 12, (), voice="alloy")
    prompt = model._omni_prompt(Conversation([{"role": "user", "content": "hello"}]), spec)
    thinker = model._thinker
    replies = Replies()
    thinker.replies = replies
    try:
        list(generate(thinker, GenerationJob(prompt.ids, spec.sampling, 12, ()), threading.Event()))
    finally:
        thinker.replies = None
    whole = thinker.whole
    talker = whole.talker
    speaker = whole.speaker_map["Chelsie"]
    greedy = TalkerSampling(temperature=0.0, top_p=1.0, top_k=0, repetition_penalty=1.0, max_codes=60)
    sampler = CodeSampler(greedy, None, int(talker.codec_bos_token))
    voice = Voice(whole, speaker, replies, prompt.heard, sampler, greedy, Chunking(), seed=0)
    list(voice.advance(writing=False))
    with torch.inference_mode():
        text = whole.thinker.get_input_embeddings()
        codec = talker.get_input_embeddings()

        def row(token: int) -> torch.Tensor:
            embedded: torch.Tensor = text(torch.tensor([[token]]))
            return embedded

        prefix = torch.cat([replies.prompt, row(int(speaker["bos_token"])), replies.rows[0]], dim=1).clone()
        prefix[:, -1] += codec(torch.tensor([talker.codec_bos_token]))[0]
        prefix[:, -2] += codec(torch.tensor([talker.codec_pad_token]))[0]
        tail = torch.cat([*replies.rows[1:], row(talker.text_eos_token), row(talker.text_pad_token)], dim=1)
        ids = torch.tensor([prompt.ids])
        codec_ids = torch.cat(
            [
                torch.full_like(ids, talker.codec_mask_token),
                torch.tensor([[talker.codec_pad_token, talker.codec_bos_token]]),
            ],
            dim=1,
        )
        text_ids = torch.cat([ids, torch.tensor([[int(speaker["bos_token"]), replies.tokens[0]]])], dim=1)
        ends = [int(talker.codec_eos_token), int(talker.codec_pad_token)]
        out = talker.generate(
            input_ids=codec_ids,
            input_text_ids=text_ids,
            thinker_reply_part=tail,
            inputs_embeds=prefix,
            do_sample=False,
            repetition_penalty=1.0,
            suppress_tokens=[talker.codec_bos_token],
            eos_token_id=ends,
            pad_token_id=talker.codec_pad_token,
            max_new_tokens=60,
        )
    theirs = out[0, codec_ids.shape[1] :].tolist()
    cut = next((i for i, c in enumerate(theirs) if c in ends), len(theirs))
    assert voice.codes == theirs[:cut]


def test_the_grammar_engine_reads_the_tokens_as_the_loop_does(model: OmniChatModel) -> None:
    """llama.cpp's vocabulary made from the Qwen tokenizer: every id's piece is the bytes the generation
    loop assembles, and its ends are the loop's (a grammar and the text never disagree)."""
    import ctypes

    import llama_cpp as C

    thinker = model._thinker
    vocab = thinker._grammar_vocab
    buffer = ctypes.create_string_buffer(64)
    for token in range(vocab.size):
        size = C.llama_token_to_piece(vocab._vocab, token, buffer, len(buffer), 0, True)
        assert buffer.raw[:size] == thinker.token_bytes(token), token
        ends = bool(C.llama_vocab_is_eog(vocab._vocab, token))
        assert ends == thinker.is_end_of_generation(token), token


def _token2wav(model: OmniChatModel, seed: int) -> StreamingToken2Wav:
    whole = model._thinker.whole
    return StreamingToken2Wav(whole.token2wav, whole.speaker_map["Chelsie"], seed)


def test_the_dit_window_is_the_models_own_sampler(model: OmniChatModel) -> None:
    """The DiT window with its starting noise given == `code2wav_dit_model.sample` drawing that noise."""
    whole = model._thinker.whole
    speaker = whole.speaker_map["Chelsie"]
    codes = [int(c) for c in np.random.default_rng(1).integers(0, 59, 40)]
    dit = whole.token2wav.code2wav_dit_model
    with torch.inference_mode():
        torch.manual_seed(5)
        reference = dit.sample(speaker["cond"].float(), speaker["ref_mel"].float(), torch.tensor([codes]))
        torch.manual_seed(5)
        noise = torch.randn([1, 80, dit.mel_dim])
    assert torch.equal(_token2wav(model, 0).window(codes, noise), reference)


@pytest.mark.parametrize("sizes", [(24, 96), (12, 12, 36)])
def test_streamed_chunks_join_into_the_whole_answer(model: OmniChatModel, sizes: tuple[int, ...]) -> None:
    """Chunks decoded with Qwen's sliding windows (shared noise, DiT context a block ahead and two back,
    BigVGAN overlap) join into the waveform of the whole answer decoded at once, within a tolerance:
    no seams. Decoding chunks apart (no shared noise, no look-ahead) misses it by far (checked too)."""
    codes = [int(c) for c in np.random.default_rng(2).integers(0, 59, 150)]
    whole = _token2wav(model, 3).chunk(codes, 0, len(codes), final=True).samples
    assert whole.size == len(codes) * SAMPLES_PER_CODE
    streamed, start, index = _token2wav(model, 3), 0, 0
    parts = []
    while start < len(codes):
        end = min(len(codes), start + sizes[min(index, len(sizes) - 1)])
        parts.append(streamed.chunk(codes, start, end, final=end == len(codes)).samples)
        start, index = end, index + 1
    joined = np.concatenate(parts)
    scale = float(np.abs(whole).max())
    assert joined.size == whole.size
    np.testing.assert_allclose(joined, whole, rtol=0, atol=1e-3 * scale)
    apart = np.concatenate(
        [
            _token2wav(model, 3 + i).chunk(codes[a : a + 24], 0, 24, final=True).samples
            for i, a in enumerate(range(0, 144, 24))
        ]
    )
    assert float(np.abs(apart - whole[: apart.size]).max()) > 0.1 * scale


@pytest.mark.parametrize(
    ("device", "available", "count", "says"),
    [("cuda", False, 0, "sees no CUDA device"), ("cuda:2", True, 2, "has 2 CUDA device")],
)
def test_a_cuda_device_torch_cannot_use_is_a_load_error(
    tiny_omni: Path, monkeypatch: pytest.MonkeyPatch, device: str, available: bool, count: int, says: str
) -> None:
    """Checked before any weight is read (the torch here is a CPU build: CUDA's answers are stood in)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    with pytest.raises(ModelLoadError, match=says):
        OmniChatModel(omni_settings(tiny_omni, device=device), ModelWorker("omni-cuda", 1))


def test_bfloat16_thinks_and_speaks_with_token2wav_in_float32(tiny_omni: Path) -> None:
    model = OmniChatModel(omni_settings(tiny_omni, dtype="bfloat16"), ModelWorker("omni-bf16", 1))
    whole = model._thinker.whole
    assert whole.thinker.dtype == whole.talker.dtype == torch.bfloat16
    assert whole.token2wav.dtype == torch.float32  # the vocoder runs in float32 whatever the rest does
    spec = GenerationSpec(SamplingParams(temperature=1.0, seed=1, logit_bias=NO_END), 20, (), voice="echo")
    events = _events(model, _prompt(model, spec, [_tone(1.5)]), spec)
    audio = np.concatenate([e.audio.samples for e in events if isinstance(e, AudioDelta)])
    assert "".join(e.text for e in events if isinstance(e, TextDelta))
    assert audio.dtype == np.float32 and audio.size and np.isfinite(audio).all()
    assert audio.size % SAMPLES_PER_CODE == 0


def test_a_grammar_whose_end_logit_bias_bans_ends_the_choice(model: OmniChatModel) -> None:
    """Once the JSON is complete the grammar allows only the end of turn, which the request banned:
    the choice ends there (it used to pick a token the grammar refuses, and llama.cpp's exception on
    accepting it aborted the whole server)."""
    from omnivox.backends.logits.structured import schema_grammar

    grammar = schema_grammar({"enum": ["yes"]}, param="response_format")
    spec = GenerationSpec(SamplingParams(temperature=1.0, seed=1, logit_bias=NO_END), 100, ())
    prompt = model._omni_prompt(Conversation([{"role": "user", "content": "hi"}]), spec)
    job = GenerationJob(prompt.ids, spec.sampling, 100, (), grammar=grammar)
    events = list(generate(model._thinker, job, threading.Event()))
    assert [e.reason for e in events if isinstance(e, Finished)] == ["stop"]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).rstrip() == '"yes"'


def test_a_token_the_grammar_refuses_is_an_error_not_an_abort(model: OmniChatModel) -> None:
    from omnivox.backends.logits.structured import schema_grammar

    constraint = model._thinker.constrain(schema_grammar({"enum": ["yes"]}, param="response_format"))
    try:
        with pytest.raises(ValueError, match="grammar does not allow token"):
            constraint.accept(ord("n"))  # the tiny vocabulary: a token per byte
        constraint.accept(ord('"'))
    finally:
        constraint.close()
