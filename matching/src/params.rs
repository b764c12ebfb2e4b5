//! Per-market parameters and the limits that bound a book's memory and work.

use crate::{Height, NewOrder, Price, Qty, RejectCode};

/// Hard ceilings on any market's parameters. Parameters are chosen per market at
/// genesis; these bound what any market may choose, so that sums cannot overflow and
/// the book's `u32` slot indices cannot run out.
pub mod limits {
    /// Most resting orders one book may hold. Slot indices are `u32`, with `u32::MAX`
    /// reserved as the null link.
    pub const ORDERS_PER_BOOK_MAX: u32 = 10_000_000;
    /// Largest order, in lots. With `ORDERS_PER_BOOK_MAX` it bounds a level's total
    /// (and a side's total) below `u64::MAX`.
    pub const QTY_LOTS_MAX: u64 = 1 << 40;
    /// Highest price, in ticks. `price × qty` of one order fits in a `u128` trivially;
    /// the chain multiplies by the tick size in `u128` and checks the result.
    pub const PRICE_TICKS_MAX: u64 = 1 << 48;

    const _: () = assert!(ORDERS_PER_BOOK_MAX < u32::MAX, "u32::MAX is the null link");
    const _: () = assert!(
        (ORDERS_PER_BOOK_MAX as u128) * (QTY_LOTS_MAX as u128) < u64::MAX as u128,
        "the total quantity on one side of a full book must fit a u64"
    );
}

/// One market's parameters. The book checks every order against them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "borsh",
    derive(borsh::BorshSerialize, borsh::BorshDeserialize)
)]
pub struct MarketParams {
    /// Price units (the chain's quote-asset atoms per lot) in one tick. Used only to
    /// convert a price given in units into ticks ([`MarketParams::price_from_units`]).
    pub tick_size: u64,
    /// Quantity units (the chain's base-asset atoms) in one lot. Used only to convert a
    /// quantity in units into lots ([`MarketParams::qty_from_units`]).
    pub lot_size: u64,
    /// Highest valid price, in ticks. The lowest is one tick.
    pub price_ticks_max: Price,
    /// Smallest new order, in lots (at least 1).
    pub qty_lots_min: Qty,
    /// Largest new order (or amended quantity), in lots.
    pub qty_lots_max: Qty,
    /// Most resting orders one account may have in this book.
    pub orders_per_account_max: u32,
    /// Most resting orders this book may hold.
    pub orders_per_book_max: u32,
}

/// Parameters that break a relation between limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("tick_size and lot_size must be at least 1")]
    ZeroUnitSize,
    #[error("price_ticks_max must be in 1..={}", limits::PRICE_TICKS_MAX)]
    PriceTicksMax,
    #[error(
        "qty_lots_min must be in 1..=qty_lots_max and qty_lots_max at most {}",
        limits::QTY_LOTS_MAX
    )]
    QtyLots,
    #[error(
        "orders_per_account_max must be in 1..=orders_per_book_max and orders_per_book_max at most {}",
        limits::ORDERS_PER_BOOK_MAX
    )]
    OrderLimits,
}

impl MarketParams {
    /// Checks the relations between the parameters; a book is only built from
    /// parameters that pass.
    pub fn validate(&self) -> Result<(), ParamsError> {
        if self.tick_size == 0 || self.lot_size == 0 {
            return Err(ParamsError::ZeroUnitSize);
        }
        if self.price_ticks_max.0 == 0 || self.price_ticks_max.0 > limits::PRICE_TICKS_MAX {
            return Err(ParamsError::PriceTicksMax);
        }
        if self.qty_lots_min.0 == 0
            || self.qty_lots_min > self.qty_lots_max
            || self.qty_lots_max.0 > limits::QTY_LOTS_MAX
        {
            return Err(ParamsError::QtyLots);
        }
        if self.orders_per_account_max == 0
            || self.orders_per_account_max > self.orders_per_book_max
            || self.orders_per_book_max > limits::ORDERS_PER_BOOK_MAX
        {
            return Err(ParamsError::OrderLimits);
        }
        Ok(())
    }

    /// Converts a price in the market's units into ticks: it must be a whole number of
    /// ticks ([`RejectCode::PriceOffTick`]); the range is checked by the book (zero units
    /// convert to price 0, which the book refuses as `PriceOutOfRange`).
    pub fn price_from_units(&self, units: u64) -> Result<Price, RejectCode> {
        if !units.is_multiple_of(self.tick_size) {
            return Err(RejectCode::PriceOffTick);
        }
        Ok(Price(units / self.tick_size))
    }

    /// Converts a quantity in the market's units into lots: it must be a whole number of
    /// lots ([`RejectCode::QtyOffLot`]); the size limits are checked by the book (zero units
    /// convert to quantity 0, below any minimum).
    pub fn qty_from_units(&self, units: u64) -> Result<Qty, RejectCode> {
        if !units.is_multiple_of(self.lot_size) {
            return Err(RejectCode::QtyOffLot);
        }
        Ok(Qty(units / self.lot_size))
    }

    /// The checks of a new order that need nothing but the order, the parameters and the
    /// book's height: steps 1–5 of the documented order (crate docs). The book runs them
    /// first; the chain runs them too, before it reserves funds, so an order that breaks
    /// two rules gets the same code wherever it is caught.
    pub fn check_new_order(&self, order: &NewOrder, height: Height) -> Result<(), RejectCode> {
        self.check_price(order.price)?;
        if order.qty < self.qty_lots_min {
            return Err(RejectCode::QtyBelowMinimum);
        }
        if order.qty > self.qty_lots_max {
            return Err(RejectCode::QtyAboveMaximum);
        }
        if order.post_only && !order.time_in_force.rests() {
            return Err(RejectCode::PostOnlyNotResting);
        }
        if let Some(expiry) = order.time_in_force.expiry()
            && expiry < height
        {
            return Err(RejectCode::AlreadyExpired);
        }
        Ok(())
    }

    /// The checks of an amend that need nothing but its new price and quantity.
    pub fn check_amend(&self, price: Price, qty: Qty) -> Result<(), RejectCode> {
        self.check_price(price)?;
        if qty.0 == 0 {
            return Err(RejectCode::QtyBelowMinimum);
        }
        if qty > self.qty_lots_max {
            return Err(RejectCode::QtyAboveMaximum);
        }
        Ok(())
    }

    /// `1..=price_ticks_max`, else [`RejectCode::PriceOutOfRange`].
    pub fn check_price(&self, price: Price) -> Result<(), RejectCode> {
        if price.0 == 0 || price > self.price_ticks_max {
            return Err(RejectCode::PriceOutOfRange);
        }
        Ok(())
    }

    /// Small, permissive parameters for tests and examples.
    pub const fn for_tests() -> MarketParams {
        MarketParams {
            tick_size: 1,
            lot_size: 1,
            price_ticks_max: Price(1_000_000),
            qty_lots_min: Qty(1),
            qty_lots_max: Qty(1_000_000),
            orders_per_account_max: 1_000,
            orders_per_book_max: 100_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_each_broken_relation() {
        let good = MarketParams::for_tests();
        assert_eq!(good.validate(), Ok(()));
        let cases = [
            (
                MarketParams {
                    tick_size: 0,
                    ..good
                },
                ParamsError::ZeroUnitSize,
            ),
            (
                MarketParams {
                    price_ticks_max: Price(0),
                    ..good
                },
                ParamsError::PriceTicksMax,
            ),
            (
                MarketParams {
                    qty_lots_min: Qty(0),
                    ..good
                },
                ParamsError::QtyLots,
            ),
            (
                MarketParams {
                    qty_lots_min: Qty(2),
                    qty_lots_max: Qty(1),
                    ..good
                },
                ParamsError::QtyLots,
            ),
            (
                MarketParams {
                    orders_per_account_max: 0,
                    ..good
                },
                ParamsError::OrderLimits,
            ),
            (
                MarketParams {
                    orders_per_book_max: limits::ORDERS_PER_BOOK_MAX + 1,
                    ..good
                },
                ParamsError::OrderLimits,
            ),
        ];
        for (params, expected) in cases {
            assert_eq!(params.validate(), Err(expected), "{params:?}");
        }
    }

    #[test]
    fn unit_conversion_rejects_off_grid_values() {
        let p = MarketParams {
            tick_size: 5,
            lot_size: 100,
            ..MarketParams::for_tests()
        };
        assert_eq!(p.price_from_units(25), Ok(Price(5)));
        assert_eq!(p.price_from_units(26), Err(RejectCode::PriceOffTick));
        assert_eq!(p.qty_from_units(300), Ok(Qty(3)));
        assert_eq!(p.qty_from_units(301), Err(RejectCode::QtyOffLot));
    }
}
