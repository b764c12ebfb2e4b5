"""Decimal prices and quantities to and from the chain's integers, exactly.

A price is quote units per whole base unit (``Decimal("65000.00")`` USD per BTC); on the
chain it is quote atoms per lot: ``price × lot_size × 10^quote_decimals /
10^base_decimals``, a multiple of the market's ``tick_size``. A quantity is base units
(``Decimal("0.25")`` BTC); on the chain base atoms, a multiple of ``lot_size``. Floats
are refused (``TypeError``): they cannot say 0.1 exactly. A value off the tick or lot is
refused (:class:`~clobchain.errors.UnitError`) before anything is signed.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING

from .errors import UnitError

if TYPE_CHECKING:
    from .models import Market

__all__ = ["to_decimal", "price_to_atoms", "qty_to_atoms", "atoms_to_price", "atoms_to_qty"]

Number = Decimal | int | str


def to_decimal(value: Number, name: str) -> Decimal:
    """``value`` as a finite Decimal; floats (and bools) are a ``TypeError``."""
    if isinstance(value, float):
        raise TypeError(
            f"{name} must be a Decimal, int or str, not float ({value!r}): "
            f"floats are inexact; write Decimal({str(value)!r})"
        )
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"{name} must be a Decimal, int or str, not {type(value).__name__}")
    try:
        d = Decimal(value)
    except ArithmeticError as e:
        raise ValueError(f"{name} {value!r} is not a decimal number") from e
    if not d.is_finite():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return d


def _decimal(f: Fraction) -> Decimal:
    """``f`` as a Decimal: exact when it terminates in base 10, else to 40 digits."""
    with localcontext() as ctx:
        ctx.prec = 80
        return Decimal(f.numerator) / Decimal(f.denominator)


def _per_lot(market: Market) -> Fraction:
    """Quote atoms per lot for one quote unit per whole base unit."""
    return Fraction(market.lot_size * 10**market.quote.decimals, 10**market.base.decimals)


def price_to_atoms(market: Market, price: Number) -> int:
    """Quote atoms per lot for ``price`` (quote units per whole base unit)."""
    d = to_decimal(price, "price")
    atoms = Fraction(d) * _per_lot(market)
    if atoms.denominator != 1 or atoms.numerator % market.tick_size != 0:
        raise UnitError(
            f"price {d} is not a multiple of the tick {atoms_to_price(market, market.tick_size)} "
            f"{market.quote.symbol} on {market.symbol}"
        )
    return atoms.numerator


def qty_to_atoms(market: Market, qty: Number) -> int:
    """Base atoms for ``qty`` (whole base units)."""
    d = to_decimal(qty, "qty")
    atoms = Fraction(d) * Fraction(10**market.base.decimals)
    if atoms.denominator != 1 or atoms.numerator % market.lot_size != 0:
        raise UnitError(
            f"qty {d} is not a multiple of the lot {atoms_to_qty(market, market.lot_size)} "
            f"{market.base.symbol} on {market.symbol}"
        )
    return atoms.numerator


def atoms_to_price(market: Market, atoms_per_lot: int) -> Decimal:
    """The price per whole base unit, in quote units, of ``atoms_per_lot``."""
    return _decimal(Fraction(atoms_per_lot) / _per_lot(market))


def atoms_to_qty(market: Market, atoms: int) -> Decimal:
    """Base atoms in whole base units."""
    return _decimal(Fraction(atoms, 10**market.base.decimals))
