// Hands each block of microphone samples (mono: the first channel, float32) to the page.
class RecorderProcessor extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel && channel.length) this.port.postMessage(channel.slice());
    return true;
  }
}
registerProcessor("omnivox-recorder", RecorderProcessor);
