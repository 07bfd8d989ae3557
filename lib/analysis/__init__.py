"""Statistics and every verdict rule of the book, in one place each."""
