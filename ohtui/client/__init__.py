"""Client side: the connection state machine that keeps a local store equal to a server's stream. No Textual here."""
