"""What each message says on each channel: wording and templates, rendered once per message."""
