"""bitweight: bench."""
