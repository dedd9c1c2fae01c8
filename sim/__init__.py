"""bitweight: sim."""
