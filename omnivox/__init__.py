"""omnivox: a self-hosted, OpenAI-compatible gpt-4o-audio-preview server."""

__version__ = "0.1.0"
