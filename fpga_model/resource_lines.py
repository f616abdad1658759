"""One-line and JSON resource estimates of a design for the command lines (``cgap sim``, ``cgap dse``,
``cgap-export``): the same estimate, worded the same way, wherever it is printed."""

from __future__ import annotations

from cgap_ir.errors import CgapError


def resource_dict(hw, device=None, geometry: dict[str, int] | None = None) -> dict:  # noqa: ANN001 - HwConfig, Device | str | None
    """Return the resource estimate of ``hw`` as a JSON-ready dict (see ``fpga_model.resources``).

    ``device`` is a Device, a device name, or None for the preset matching ``hw.part``; raises
    :class:`CgapError` when there is none.  With ``geometry`` (a generated project's buffer sizes) the
    buffers are the project's own, otherwise the HwConfig budget's.
    """
    from fpga_model.devices import Device, device_for_part, get_device
    from fpga_model.resources import estimate, estimate_generated

    dev = device if isinstance(device, Device) else get_device(device) if device else device_for_part(hw.part)
    if dev is None:
        raise CgapError(f"no device preset for part {hw.part!r}; give a device name (xc7z020, xczu9eg, xcu250, "
                        "10ax115)")
    return (estimate(hw, dev) if geometry is None else estimate_generated(hw, dev, geometry)).to_dict()


def resource_summary(hw, device=None, geometry: dict[str, int] | None = None) -> str:  # noqa: ANN001
    """Return one line: each resource used/available (%), and whether ``hw`` fits the device (``geometry``:
    a generated project's buffer sizes, as in :func:`resource_dict`)."""
    return resource_check(hw, device, geometry)[0]


def resource_check(hw, device=None, geometry: dict[str, int] | None = None) -> tuple[str, bool | None]:  # noqa: ANN001
    """Return (the :func:`resource_summary` line, whether ``hw`` fits; None when no estimate was possible)."""
    try:
        doc = resource_dict(hw, device, geometry)
    except CgapError as exc:
        return f"resources: not estimated ({exc})", None
    from fpga_model.devices import DEVICES

    dev = DEVICES[doc["device"]]
    names = {"dsp": "DSP", "bram": dev.bram_kind, "lut": dev.lut_kind, "ff": "FF"}
    parts = [f"{names[k]} {doc['used'][k]:,}/{doc['available'][k]:,} ({doc['percent'][k]:.0f}%)" for k in names]
    verdict = "fits" if doc["fits"] else "DOES NOT FIT"
    what = "HwConfig budget" if geometry is None else "this project's buffers"
    return f"resources on {dev.name} (estimate, {what}): {', '.join(parts)} — {verdict}", bool(doc["fits"])
