"""bitweight: the models and data sets that the kernels are tried on, kept apart from the kernels.

A real model and its text (``minilm``: all-MiniLM-L6-v2 written out in torch; ``real_text``: real
English sentences from the Python standard library's documentation), the golden tensors drawn from
them for every family (``real_tensors``: weights and activations as numpy arrays, INT8-quantised
GEMM workloads), and a tiny byte-level LM trained on the standard library's source for the FP8
training comparison (``tiny_lm``). These modules use kernels/ (e.g. kernels.halo); kernels/ never
imports them, and like the rest of kernels/ they never import sim/ or rtl_models/.
"""
