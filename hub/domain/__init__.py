"""Domain values: posts, people, targets, decisions. No I/O, no clock."""
