"""One module per question of the book; no study imports another."""
