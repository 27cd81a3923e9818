"""/v1/audio/transcriptions and /v1/audio/translations: files in, text out, in OpenAI's formats."""
