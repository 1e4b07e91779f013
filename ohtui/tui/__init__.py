"""The Textual front end: widgets render protocol events and connection snapshots, and post typed user intents."""
