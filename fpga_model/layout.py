"""The engine's DRAM layout, port packing and on-chip banking: the one place both codegen and simulator read.

DRAM is reached through ``dram.port_bits``-wide m_axi ports: one beat carries ``V = port_bits / act_bits``
activation words (feature-map ports) or ``VW = port_bits / weight_bits`` weight words (weight port), word j
in bits [j*bits, (j+1)*bits).  Every burst starts on a beat and moves whole beats, so the layout pads:

* **Feature maps**: CHW, each row padded to ``row_pitch(W) = ceil(W / V) * V`` words (the padding words
  are written as zeros and never read as data).  A beat therefore never spans two rows, every row, row
  range and channel range starts on a beat, and a tile moves exactly ``rows * row_pitch / V`` beats.
* **Weights** of a conv/linear layer: output channels in groups of Pof, per group ``[step][lane]`` with
  step = (i, ky, kx) and each step's Pof lane words padded to ``weight_row_words`` (a multiple of VW):
  a beat holds weights of one step for up to VW lanes, one word per lane bank.
* **Biases**: per group, Pof biases of ``bias_slot_words`` weight words each (a power of two >= the words
  an accumulator needs, low word first), the group padded to whole beats (``bias_group_words``).

On-chip banking (why each multi-word-per-cycle access touches distinct banks):

* conv input tile: ``IB_R x IB_C`` banks with ``IB_C >= max(Pox * stride, V)``: the window of Poy x Pox
  lanes reads one word per bank, a load beat writes V consecutive columns of one row;
* conv output and residual tiles: Pof lanes x ``NB`` column banks, ``NB >= V`` and coprime with every fused
  pool width: the write-out drains one word per lane per cycle, a store beat reads V columns at stride pkw;
* weights: Pof lane banks (``weight_row_words`` keeps a beat inside one step);
* element-wise unit (pool / gap / add): input planes in ``FB`` column banks (``FB >= V``, coprime with every
  standalone pool's stride: V output columns read V distinct banks), output planes as whole beats.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from fpga_model.hw import HwConfig


def words_per_beat(hw: HwConfig, bits: int) -> int:
    """Return how many ``bits``-wide words one beat of the m_axi port carries (>= 1)."""
    return max(1, hw.dram.port_bits // bits)


def act_lanes(hw: HwConfig) -> int:
    """Return V, the activation words per feature-map beat."""
    return words_per_beat(hw, hw.act_bits)


def weight_lanes(hw: HwConfig) -> int:
    """Return VW, the weight words per weight-port beat."""
    return words_per_beat(hw, hw.weight_bits)


def round_up(value: int, multiple: int) -> int:
    """Return the smallest multiple of ``multiple`` that is >= ``value``."""
    return -(-value // multiple) * multiple


def row_pitch(width: int, hw: HwConfig) -> int:
    """Return the DRAM words of one feature-map row of ``width`` words (padded to whole beats)."""
    return round_up(width, act_lanes(hw))


def row_beats(width: int, hw: HwConfig) -> int:
    """Return the beats one feature-map row of ``width`` words occupies in DRAM."""
    return row_pitch(width, hw) // act_lanes(hw)


def tensor_words(shape: tuple[int, int, int], hw: HwConfig) -> int:
    """Return the DRAM words of a (C, H, W) feature map in the padded-row layout."""
    c, h, w = shape
    return c * h * row_pitch(w, hw)


def weight_row_words(hw: HwConfig) -> int:
    """Return the words of one weight step of a Pof group (Pof lane words padded to whole beats)."""
    return round_up(hw.pof, weight_lanes(hw))


def bias_words(hw: HwConfig) -> int:
    """Return how many weight words hold one accumulator-wide bias (low word first)."""
    return math.ceil(hw.acc_bits / hw.weight_bits)


def bias_slot_words(hw: HwConfig) -> int:
    """Return the weight words one bias occupies in the image: the power of two >= :func:`bias_words`."""
    return 1 << (bias_words(hw) - 1).bit_length()


def bias_group_words(hw: HwConfig) -> int:
    """Return the words of one Pof group's biases in the weight image (padded to whole beats)."""
    return round_up(hw.pof * bias_slot_words(hw), weight_lanes(hw))


def weight_group_words(steps: int, hw: HwConfig) -> int:
    """Return the words of one Pof group's weights for a layer with ``steps`` = Nif*Nky*Nkx MAC steps."""
    return steps * weight_row_words(hw)


def output_banks(pool_widths: Iterable[int], hw: HwConfig) -> int:
    """Return NB, the column banks of a conv output/residual tile: the least n >= V coprime with each width."""
    widths = [w for w in pool_widths if w > 1]
    n = act_lanes(hw)
    while any(math.gcd(n, w) != 1 for w in widths):
        n += 1
    return n


def input_column_banks(max_stride: int, hw: HwConfig) -> int:
    """Return IB_C: at least Pox*stride (the MAC window) and V (a load beat)."""
    return max(hw.pox * max_stride, act_lanes(hw))


def element_banks(pool_strides: Iterable[int], hw: HwConfig) -> int:
    """Return FB, the column banks of the element-wise unit's input planes: the least n >= V coprime with every
    standalone pool's column stride (V columns at that stride are V distinct banks)."""
    return output_banks(pool_strides, hw)
