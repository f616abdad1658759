"""Exporters: torch → ONNX (and the FPGA / hls4ml targets wired through cgap.export_cli)."""
