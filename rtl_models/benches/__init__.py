"""cocotb test benches: run inside the simulator by rtl_models.runner (they import cocotb)."""
