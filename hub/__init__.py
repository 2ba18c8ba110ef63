"""The cross-posting hub: write once, publish only where the owner's policy permits,
audit who could see what."""
