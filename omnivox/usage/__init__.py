"""Usage and cost per API key: what each request used, counted in memory on the hot path, flushed to SQLite
in batches, reported in the shapes of OpenAI's Usage and Costs APIs and priced in exact decimals
(docs/usage.md)."""
