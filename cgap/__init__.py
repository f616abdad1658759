"""cgap: Continuous Growth and Pruning of compact CNNs, HLS code generation and an FPGA accelerator model."""

__version__ = "0.1.0"
