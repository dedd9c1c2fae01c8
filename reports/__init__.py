"""bitweight: reports."""
