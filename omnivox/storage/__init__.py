"""State that outlives a request: stored spoken answers. SQLite by default, behind a small Protocol
that a shared store can implement."""
