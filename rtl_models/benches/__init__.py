"""cocotb test benches: run inside the simulator by rtl_models.cosim (they import cocotb)."""
