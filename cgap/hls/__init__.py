"""HLS code generation for the cgap engine: program layout, Jinja2 rendering, atomic writing, C-sim."""

from cgap.hls.export import MIN_CALIB_IMAGES, Compiled, compile_network, export_fpga, golden_outputs
from cgap.hls.render import BuildPlan, render
from cgap.hls.write import write_plan

__all__ = ["MIN_CALIB_IMAGES", "BuildPlan", "Compiled", "compile_network", "export_fpga", "golden_outputs",
           "render", "write_plan"]
