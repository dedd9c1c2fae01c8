"""bitweight: kernels."""
