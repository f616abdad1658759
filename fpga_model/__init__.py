"""fpga_model: cycle-level model of the cgap accelerator (PE array, buffers, DRAM) and its energy (numpy only)."""

from fpga_model.hw import PRESETS, DramConfig, EnergyConfig, HwConfig, HwConfigError, load_hw

__all__ = ["PRESETS", "DramConfig", "EnergyConfig", "HwConfig", "HwConfigError", "load_hw"]
