"""Speaking: text cut into speakable pieces, spoken by a voice, encoded; /v1/audio/speech."""
