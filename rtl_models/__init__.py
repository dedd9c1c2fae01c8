"""bitweight: rtl_models."""
