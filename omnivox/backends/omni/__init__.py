"""Qwen2.5-Omni through transformers: a model that hears and speaks (docs/native-audio.md). Imports torch."""
