"""One-line and JSON resource estimates of a design for the command lines (``cgap sim``, ``cgap dse``,
``cgap-export``): the same estimate (:func:`fpga_model.resources.estimate` of the generated engine), worded the
same way, wherever it is printed."""

from __future__ import annotations

from collections.abc import Mapping

from cgap_ir.errors import CgapError


def resource_dict(hw, geometry: Mapping[str, int], device=None) -> dict:  # noqa: ANN001 - HwConfig, Device | str | None
    """Return the resource estimate of the engine generated for ``hw`` with ``geometry`` (its ``CGAP_*`` buffer,
    divider and kind constants: a project's ``buffers``, or ``fpga_model.geometry.network_geometry``) as a
    JSON-ready dict (see ``fpga_model.resources``).

    ``device`` is a Device, a device name, or None for the preset matching ``hw.part``; raises
    :class:`CgapError` when there is none.
    """
    from fpga_model.devices import Device, device_for_part, get_device
    from fpga_model.resources import estimate

    dev = device if isinstance(device, Device) else get_device(device) if device else device_for_part(hw.part)
    if dev is None:
        raise CgapError(f"no device preset for part {hw.part!r}; give a device name (xc7z020, xczu9eg, xcu250, "
                        "10ax115)")
    return estimate(hw, dev, geometry).to_dict()


def resource_line(doc: dict) -> str:
    """Return one line of a resource estimate dict (``ResourceReport.to_dict``): each resource used/available
    (%), and whether the design fits.  ``cgap dse``, ``cgap sim`` and ``cgap-export`` print this same line."""
    from fpga_model.devices import DEVICES

    dev = DEVICES[doc["device"]]
    names = {"dsp": "DSP", "bram": dev.bram_kind, "lut": dev.lut_kind, "ff": "FF"}
    parts = [f"{names[k]} {doc['used'][k]:,}/{doc['available'][k]:,} ({doc['percent'][k]:.0f}%)" for k in names]
    verdict = "fits" if doc["fits"] else "DOES NOT FIT"
    return f"resources on {dev.name} (estimate of the generated engine): {', '.join(parts)} — {verdict}"


def resource_summary(hw, geometry: Mapping[str, int], device=None) -> str:  # noqa: ANN001
    """Return the :func:`resource_line` of ``hw`` with ``geometry`` (as in :func:`resource_dict`)."""
    return resource_check(hw, geometry, device)[0]


def resource_check(hw, geometry: Mapping[str, int], device=None) -> tuple[str, bool | None]:  # noqa: ANN001
    """Return (the :func:`resource_summary` line, whether the engine fits; None when no estimate was possible)."""
    try:
        doc = resource_dict(hw, geometry, device)
    except CgapError as exc:
        return f"resources: not estimated ({exc})", None
    return resource_line(doc), bool(doc["fits"])
