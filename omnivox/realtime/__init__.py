"""The Realtime API (/v1/realtime): sessions, conversation items, turn detection, responses."""
