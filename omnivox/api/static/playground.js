// The omnivox playground: talks to this server's own OpenAI-compatible API, nothing else.
// Spoken answers arrive as pcm16 (24 kHz mono, little-endian, base64) in `delta.audio.data` and are
// played through WebAudio as they arrive; `audio-level` carries the playback RMS level in dBFS.
"use strict";

const PCM_RATE = 24000;        // pcm16 from /v1/chat/completions: 24 kHz mono
const SILENCE_DB = -100;       // the level shown for silence (log of zero)
const METER_MS = 50;           // how often the playback level is measured
const SPEECH_DB = -35;         // microphone level that counts as the user speaking (echo cancelled)
const SPEECH_TICKS = 2;        // ... for this many measurements in a row (100 ms)

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"),
  model: $("model"), voice: $("voice"), keyRow: $("key-row"), key: $("api-key"),
  system: $("system-prompt"), schema: $("json-schema"), tools: $("tools"),
  transcript: $("transcript"), answer: $("answer"), error: $("error"),
  level: $("audio-level"), bar: $("meter-bar"),
  compose: $("compose"), record: $("record"), text: $("text-input"), send: $("send"),
  stop: $("stop"), clear: $("clear"), bargeIn: $("barge-in"),
};

const state = {
  history: [],          // earlier turns: {role, content}
  busy: false,
  recorder: null,       // {context, stream, node, chunks, rate} while recording
  player: null,         // {context, analyser, gain, sources, next}
  request: null,        // AbortController of the answer being streamed
  listener: null,       // {stream, context, timer} while listening for the user to interrupt
};

function setStatus(text, kind = "idle") {
  ui.status.textContent = text;
  ui.status.dataset.state = kind;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
  setStatus("Error: " + message, "error");
}

function clearError() {
  ui.error.textContent = "";
  ui.error.hidden = true;
}

function headers(extra = {}) {
  const key = ui.key.value.trim();
  return key ? { ...extra, Authorization: "Bearer " + key } : extra;
}

async function apiError(response) {
  // OpenAI's error body: {"error": {"message", "type", "param", "code"}}
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) {
      const e = body.error;
      return `${e.message}${e.param ? ` (param: ${e.param})` : ""}${e.code ? ` [${e.code}]` : ""}`;
    }
  } catch (_) { /* not JSON */ }
  return `HTTP ${response.status}`;
}

// ---- start-up: models and voices -------------------------------------------------------------------

async function loadConfig() {
  const response = await fetch("/playground/config.json");
  if (!response.ok) throw new Error(await apiError(response));
  const config = await response.json();
  ui.keyRow.hidden = !config.api_key_required;
  fillSelect(ui.voice, config.voices);
  ui.voice.disabled = config.voices.length === 0;
  return config;
}

async function loadModels() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) throw new Error(await apiError(response));
  const list = await response.json();
  // chat models state their context window; speech models do not
  const chat = list.data.filter((m) => typeof m.context_window === "number").map((m) => m.id);
  fillSelect(ui.model, chat);
}

function fillSelect(select, values) {
  const current = select.value;
  select.replaceChildren(...values.map((v) => new Option(v, v)));
  if (values.includes(current)) select.value = current;
}

async function start() {
  setStatus("Loading models…", "loading");
  try {
    const config = await loadConfig();
    if (config.api_key_required && !ui.key.value) {
      setStatus("This server needs an API key: enter it above.", "key");
      return;
    }
    await loadModels();
    setStatus("Ready", "idle");
  } catch (err) {
    showError(String(err.message || err));
  }
}

// ---- playback --------------------------------------------------------------------------------------

function player() {
  if (!state.player) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    const gain = context.createGain();
    gain.connect(analyser);
    analyser.connect(context.destination);
    state.player = { context, analyser, gain, sources: new Set(), next: 0 };
    const samples = new Float32Array(analyser.fftSize);
    setInterval(() => showLevel(analyser, samples), METER_MS);
  }
  if (state.player.context.state === "suspended") state.player.context.resume();
  return state.player;
}

function levelDb(analyser, samples) {
  // RMS of the analyser's latest window, in dBFS
  analyser.getFloatTimeDomainData(samples);
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / samples.length);
  return rms > 0 ? Math.max(SILENCE_DB, 20 * Math.log10(rms)) : SILENCE_DB;
}

function showLevel(analyser, samples) {
  const db = levelDb(analyser, samples);
  ui.level.dataset.level = db.toFixed(1);
  ui.level.textContent = `${db.toFixed(1)} dBFS`;
  ui.bar.style.width = `${Math.max(0, 100 + db)}%`;
}

function playPcm16(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const count = Math.floor(bytes.length / 2);
  if (!count) return;
  const p = player();
  const buffer = p.context.createBuffer(1, count, PCM_RATE);
  const channel = buffer.getChannelData(0);
  for (let i = 0; i < count; i++) channel[i] = view.getInt16(2 * i, true) / 32768;
  const source = p.context.createBufferSource();
  source.buffer = buffer;
  source.connect(p.gain);
  p.next = Math.max(p.next, p.context.currentTime + 0.05);
  source.start(p.next);
  p.next += buffer.duration;
  p.sources.add(source);
  source.onended = () => {
    // a source stopped by stopPlayback was removed already: only the natural end of the answer counts
    if (!p.sources.delete(source) || p.sources.size) return;
    stopListening();
    if (!state.busy) setStatus("Ready", "idle");
  };
  setStatus("Playing the answer…", "playing");
  listenForSpeech();
}

function stopPlayback() {
  stopListening();
  const p = state.player;
  if (!p) return;
  for (const source of p.sources) source.stop();
  p.sources.clear();
  p.next = 0;
}

// ---- speaking interrupts the answer ----------------------------------------------------------------

async function listenForSpeech() {
  if (!ui.bargeIn.checked || state.listener || state.recorder) return;
  const listener = { stream: null, context: null, timer: null };
  state.listener = listener;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
    });
    listener.stream = stream;
    if (state.listener !== listener) { stream.getTracks().forEach((t) => t.stop()); return; }
    listener.context = new AudioContext();
    const analyser = listener.context.createAnalyser();
    listener.context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    let loud = 0;
    listener.timer = setInterval(() => {
      const db = levelDb(analyser, samples);
      ui.bargeIn.dataset.micLevel = db.toFixed(1);  // what the microphone hears, in dBFS
      loud = db > SPEECH_DB ? loud + 1 : 0;
      if (loud >= SPEECH_TICKS) interrupt();
    }, METER_MS);
  } catch (err) {
    state.listener = null;
    showError("Cannot listen for speech: " + (err.message || err));
  }
}

function stopListening() {
  const listener = state.listener;
  state.listener = null;
  if (!listener) return;
  clearInterval(listener.timer);
  if (listener.stream) listener.stream.getTracks().forEach((t) => t.stop());
  if (listener.context) listener.context.close();
}

function interrupt() {
  stopPlayback();
  if (state.request) state.request.abort();
  setStatus("Interrupted: you spoke. Record to answer.", "interrupted");
}

// ---- recording -------------------------------------------------------------------------------------

async function startRecording() {
  if (!window.isSecureContext || !navigator.mediaDevices) {
    throw new Error("browsers give the microphone only to https pages or to localhost/127.0.0.1");
  }
  stopPlayback();  // speaking interrupts the answer
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
  const context = new AudioContext();
  await context.audioWorklet.addModule("/playground/static/recorder-worklet.js");
  const node = new AudioWorkletNode(context, "omnivox-recorder");
  const chunks = [];
  node.port.onmessage = (event) => chunks.push(event.data);
  context.createMediaStreamSource(stream).connect(node);
  state.recorder = { context, stream, node, chunks, rate: context.sampleRate };
  ui.record.setAttribute("aria-pressed", "true");
  ui.record.textContent = "■ Stop and send";
  setStatus("Recording… click again to send", "recording");
}

async function stopRecording() {
  const r = state.recorder;
  state.recorder = null;
  ui.record.setAttribute("aria-pressed", "false");
  ui.record.textContent = "● Record";
  r.node.port.onmessage = null;
  r.stream.getTracks().forEach((t) => t.stop());
  await r.context.close();
  return wav(r.chunks, r.rate);
}

function wav(chunks, rate) {
  // 16-bit mono PCM WAV
  const count = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * count));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * count, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * count, true);
  let at = 44;
  for (const chunk of chunks) {
    for (const s of chunk) { view.setInt16(at, Math.max(-1, Math.min(1, s)) * 32767, true); at += 2; }
  }
  return new Uint8Array(view.buffer);
}

function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function transcribe(wavBytes) {
  // The words shown to the user; the chat model hears the same audio itself (input_audio).
  const form = new FormData();
  form.append("file", new Blob([wavBytes], { type: "audio/wav" }), "speech.wav");
  form.append("model", "whisper-1");
  const response = await fetch("/v1/audio/transcriptions", { method: "POST", headers: headers(), body: form });
  if (!response.ok) throw new Error(await apiError(response));
  return (await response.json()).text.trim();
}

// ---- a turn ----------------------------------------------------------------------------------------

function optionalJson(textarea, what) {
  const text = textarea.value.trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${err.message}`);
  }
}

function requestBody(userContent) {
  const messages = [];
  const system = ui.system.value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push(...state.history, { role: "user", content: userContent });
  const body = { model: ui.model.value, messages, stream: true };
  if (!ui.voice.disabled && ui.voice.value) {
    body.modalities = ["text", "audio"];
    body.audio = { voice: ui.voice.value, format: "pcm16" };
  }
  const schema = optionalJson(ui.schema, "The JSON schema");
  if (schema !== undefined) {
    body.response_format = { type: "json_schema", json_schema: { name: "answer", schema } };
  }
  const tools = optionalJson(ui.tools, "The tools");
  if (tools !== undefined) body.tools = tools;
  return body;
}

async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    pending += decoder.decode(value, { stream: true });
    let end;
    while ((end = pending.indexOf("\n\n")) >= 0) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

function applyDelta(delta, answer) {
  if (typeof delta.content === "string") answer.text += delta.content;
  if (delta.audio) {
    if (typeof delta.audio.transcript === "string") answer.text += delta.audio.transcript;
    if (typeof delta.audio.data === "string") playPcm16(delta.audio.data);
  }
  for (const call of delta.tool_calls || []) {
    const slot = (answer.calls[call.index] ||= { name: "", arguments: "" });
    if (call.function && call.function.name) slot.name += call.function.name;
    if (call.function && call.function.arguments) slot.arguments += call.function.arguments;
  }
  const calls = answer.calls.filter(Boolean).map((c) => `→ ${c.name}(${c.arguments})`);
  ui.answer.textContent = [answer.text, ...calls].filter(Boolean).join("\n");
}

async function streamAnswer(userContent) {
  const body = requestBody(userContent);
  state.request = new AbortController();
  setStatus("Waiting for the answer…", "waiting");
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
    signal: state.request.signal,
  });
  if (!response.ok) throw new Error(await apiError(response));
  const answer = { text: "", calls: [] };
  for await (const event of sseEvents(response)) {
    if (event.error) throw new Error(event.error.message || "the stream failed");
    for (const choice of event.choices || []) {
      if (choice.index === 0 && choice.delta) applyDelta(choice.delta, answer);
    }
    if (state.request.signal.aborted) break;
  }
  return answer.text;
}

async function turn(prepare) {
  if (state.busy) return;
  state.busy = true;
  ui.send.disabled = true;
  clearError();
  ui.answer.textContent = "";
  stopPlayback();
  player();  // created inside the click, so the browser lets it play
  try {
    await prepare();
    if (!state.player.sources.size && ui.status.dataset.state !== "interrupted") setStatus("Ready", "idle");
  } catch (err) {
    if (err.name !== "AbortError") showError(String(err.message || err));
  } finally {
    state.busy = false;
    state.request = null;
    ui.send.disabled = false;
  }
}

function sendTyped(event) {
  event.preventDefault();
  const text = ui.text.value.trim();
  if (!text || state.busy) return;  // one answer at a time: the text stays in the field
  ui.text.value = "";
  ui.transcript.textContent = text;
  turn(async () => {
    const answer = await streamAnswer(text);
    state.history.push({ role: "user", content: text }, { role: "assistant", content: answer });
  });
}

async function toggleRecording() {
  if (!state.recorder) {
    if (state.request) state.request.abort();  // speaking over an answer that is still arriving
    try {
      await startRecording();
    } catch (err) {
      showError("Cannot record: " + (err.message || err));
    }
    return;
  }
  const wavBytes = await stopRecording();
  ui.transcript.textContent = "…";
  turn(async () => {
    const audio = toBase64(wavBytes);
    const heard = transcribe(wavBytes).then((text) => { ui.transcript.textContent = text; return text; });
    heard.catch(() => {});  // shown below, if the answer itself does not fail first
    const part = [{ type: "input_audio", input_audio: { data: audio, format: "wav" } }];
    const answer = await streamAnswer(part);
    // later turns carry the words, not the audio (heard once, not at every turn)
    const words = await heard;
    state.history.push({ role: "user", content: words }, { role: "assistant", content: answer });
  });
}

ui.compose.addEventListener("submit", sendTyped);
ui.record.addEventListener("click", toggleRecording);
ui.stop.addEventListener("click", () => {
  stopPlayback();
  if (state.request) state.request.abort();
  setStatus("Stopped", "idle");
});
ui.clear.addEventListener("click", () => {
  state.history = [];
  ui.transcript.textContent = "";
  ui.answer.textContent = "";
  clearError();
});
ui.key.addEventListener("change", start);
start();
