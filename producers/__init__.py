"""Producer SDK, topic administration and bulk publishing for session events."""
