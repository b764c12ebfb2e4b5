//! Exact conversion between the decimals people type ("0.01 BTC at 65000.50 USD") and
//! the chain's integers (base atoms, quote atoms per lot), and back for display.
//!
//! ```text
//! qty_atoms           = qty   × 10^base_decimals
//! price_atoms_per_lot = price × 10^quote_decimals × lot_size / 10^base_decimals
//! ```
//!
//! No floats anywhere: a decimal string is read into an integer and a power of ten
//! (`u128`, checked), and a value that is not exactly on the market's grid (whole atoms,
//! a multiple of the lot, a multiple of the tick) is refused with the two nearest valid
//! values, never rounded silently.

use api::wire::MarketJson;

/// Fractional digits shown for a price whose decimal expansion does not end (a lot size
/// with a factor other than 2 and 5); such a price is shown rounded down with a `~`.
const REPEATING_DIGITS_SHOWN: u32 = 12;

/// Why a decimal string could not become chain units.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// Not a plain non-negative decimal.
    #[error("{what} {text:?} is not a decimal number (digits with at most one '.', e.g. 0.01)")]
    Malformed {
        /// What the number was for (`qty`, `price`, `amount`).
        what: &'static str,
        /// The text as given.
        text: String,
    },
    /// Too many digits to compute with exactly, or more than the chain's integers hold.
    #[error("{what} {text} is too large (or has too many digits) to represent exactly")]
    Overflow {
        /// What the number was for.
        what: &'static str,
        /// The text as given.
        text: String,
    },
    /// Not on the grid of valid values.
    #[error("{what} {text} is not {grid}; nearest valid: {}", nearest(below.as_deref(), above))]
    OffGrid {
        /// What the number was for.
        what: &'static str,
        /// The text as given.
        text: String,
        /// The grid, in words (e.g. "a multiple of the lot size 0.0001 BTC").
        grid: String,
        /// The nearest valid value below, if there is one.
        below: Option<String>,
        /// The nearest valid value above.
        above: String,
    },
    /// Outside the market's range.
    #[error("{what} {text} is out of range: {range}")]
    OutOfRange {
        /// What the number was for.
        what: &'static str,
        /// The text as given.
        text: String,
        /// The valid range, in words.
        range: String,
    },
}

fn nearest(below: Option<&str>, above: &str) -> String {
    match below {
        Some(below) => format!("{below} or {above}"),
        None => above.to_string(),
    }
}

/// A non-negative decimal read exactly: `digits / 10^scale`, without trailing
/// fractional zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decimal {
    digits: u128,
    scale: u32,
}

fn parse_decimal(what: &'static str, text: &str) -> Result<Decimal, UnitError> {
    let malformed = || UnitError::Malformed {
        what,
        text: text.to_string(),
    };
    let trimmed = text.trim();
    let (int, frac) = trimmed.split_once('.').unwrap_or((trimmed, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return Err(malformed());
    }
    let frac = frac.trim_end_matches('0');
    let overflow = || UnitError::Overflow {
        what,
        text: text.to_string(),
    };
    let mut digits: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        digits = digits
            .checked_mul(10)
            .and_then(|d| d.checked_add(u128::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    let scale = u32::try_from(frac.len()).map_err(|_| overflow())?;
    Ok(Decimal { digits, scale })
}

/// `value × multiplier × 10^up / 10^down`, as its floor and whether it is exact.
/// `None` when an intermediate does not fit in a `u128`.
fn scale_exact(value: Decimal, multiplier: u128, up: u32, down: u32) -> Option<(u128, bool)> {
    let n = value.digits.checked_mul(multiplier)?;
    let down = value.scale.checked_add(down)?;
    if up >= down {
        let factor = 10u128.checked_pow(up - down)?;
        return Some((n.checked_mul(factor)?, true));
    }
    match 10u128.checked_pow(down - up) {
        Some(divisor) => Some((n / divisor, n % divisor == 0)),
        // 10^39 and above exceed every u128, so the value is below one.
        None => Some((0, n == 0)),
    }
}

/// Snaps an exact-or-not value to multiples of `step`: `Ok(value)` if it is one,
/// else the multiples just below and above.
fn on_grid(floor: u128, exact: bool, step: u64) -> Result<u128, (u128, u128)> {
    let step = u128::from(step);
    let below = floor - floor % step;
    if exact && below == floor {
        Ok(floor)
    } else {
        Err((below, below.saturating_add(step)))
    }
}

/// `digits × 10^-scale` as a decimal string with at least `frac_min` fractional digits
/// and no trailing zeros beyond them. Exact for any `scale` (pure string work).
fn render(digits: &str, scale: i64, frac_min: usize) -> String {
    let digits = digits.trim_start_matches('0');
    let (int, frac) = if scale <= 0 {
        let zeros = usize::try_from(-scale).unwrap_or(0);
        (format!("{digits}{}", "0".repeat(zeros)), String::new())
    } else {
        let scale = usize::try_from(scale).unwrap_or(usize::MAX);
        if digits.len() > scale {
            let (i, f) = digits.split_at(digits.len() - scale);
            (i.to_string(), f.to_string())
        } else {
            (
                String::new(),
                format!("{}{digits}", "0".repeat(scale - digits.len())),
            )
        }
    };
    let int = if int.is_empty() { "0".to_string() } else { int };
    let mut frac = frac.trim_end_matches('0').to_string();
    while frac.len() < frac_min {
        frac.push('0');
    }
    if frac.is_empty() {
        int
    } else {
        format!("{int}.{frac}")
    }
}

/// Formats `atoms` of an asset with `decimals` decimals, with at least `frac_min`
/// fractional digits (trailing zeros beyond them are dropped). Exact.
///
/// ```
/// use cli::units::format_atoms;
/// assert_eq!(format_atoms(1_050_000, 6, 2), "1.05");
/// assert_eq!(format_atoms(5, 8, 0), "0.00000005");
/// assert_eq!(format_atoms(100_000_000, 8, 0), "1");
/// ```
pub fn format_atoms(atoms: u128, decimals: u8, frac_min: usize) -> String {
    render(&atoms.to_string(), i64::from(decimals), frac_min)
}

/// The number of fractional digits of `atoms / 10^decimals` once trailing zeros go.
fn frac_digits(atoms: u128, decimals: u8) -> usize {
    let text = format_atoms(atoms, decimals, 0);
    text.split_once('.').map_or(0, |(_, f)| f.len())
}

/// Parses an amount of an asset given in its decimal units into atoms.
///
/// ```
/// use cli::units::parse_amount;
/// assert_eq!(parse_amount("amount", "100000", 6, "USD"), Ok(100_000_000_000));
/// assert!(parse_amount("amount", "0.0000001", 6, "USD").is_err());
/// ```
pub fn parse_amount(
    what: &'static str,
    text: &str,
    decimals: u8,
    symbol: &str,
) -> Result<u64, UnitError> {
    let value = parse_decimal(what, text)?;
    let overflow = || UnitError::Overflow {
        what,
        text: text.to_string(),
    };
    let (floor, exact) = scale_exact(value, 1, u32::from(decimals), 0).ok_or_else(overflow)?;
    let atoms = on_grid(floor, exact, 1).map_err(|(below, above)| UnitError::OffGrid {
        what,
        text: text.to_string(),
        grid: format!("a whole number of {symbol} atoms ({symbol} has {decimals} decimals)"),
        below: Some(format_atoms(below, decimals, 0)),
        above: format_atoms(above, decimals, 0),
    })?;
    u64::try_from(atoms).map_err(|_| overflow())
}

/// One market's units: converts what people type into the chain's integers and back.
/// It holds the market as the API describes it ([`MarketJson`]): tick and lot sizes,
/// bounds, and both assets' decimals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketUnits {
    /// The market.
    pub market: MarketJson,
}

impl MarketUnits {
    /// The units of `market` as the API describes it.
    ///
    /// # Panics
    /// If the market has a zero tick or lot size (the chain never creates one).
    pub fn new(market: &MarketJson) -> MarketUnits {
        assert!(
            market.tick_size > 0 && market.lot_size > 0,
            "a market has positive steps"
        );
        MarketUnits {
            market: market.clone(),
        }
    }

    /// Fractional digits of one lot in base units (BTC-USD: 0.0001 → 4).
    pub fn qty_decimals(&self) -> usize {
        frac_digits(u128::from(self.market.lot_size), self.market.base.decimals)
    }

    /// Fractional digits of one tick in quote units per base unit (BTC-USD: 0.01 → 2);
    /// 0 when the tick is a repeating decimal.
    pub fn price_decimals(&self) -> usize {
        let (text, approximate) = self.price_text(self.market.tick_size, 0);
        if approximate {
            // No fixed precision fits; each price then shows its own digits.
            0
        } else {
            text.split_once('.').map_or(0, |(_, f)| f.len())
        }
    }

    /// Base atoms as a decimal in base units, with the lot's precision.
    pub fn format_qty(&self, atoms: u64) -> String {
        format_atoms(
            u128::from(atoms),
            self.market.base.decimals,
            self.qty_decimals(),
        )
    }

    /// Quote atoms per lot as a decimal price in quote units per base unit, with the
    /// tick's precision. Exact, except for markets whose lot size has a prime factor
    /// other than 2 and 5, where a repeating decimal is shown rounded down after a `~`.
    pub fn format_price(&self, atoms_per_lot: u64) -> String {
        let (text, approximate) = self.price_text(atoms_per_lot, self.price_decimals());
        if approximate {
            format!("~{text}")
        } else {
            text
        }
    }

    /// `atoms_per_lot × 10^base_decimals / (lot × 10^quote_decimals)`: long division of
    /// the atoms by the lot, then a decimal point shift (string work, so any decimals).
    fn price_text(&self, atoms_per_lot: u64, frac_min: usize) -> (String, bool) {
        let lot = u128::from(self.market.lot_size);
        let atoms = u128::from(atoms_per_lot);
        let mut digits = (atoms / lot).to_string();
        let mut remainder = atoms % lot;
        let mut scale =
            i64::from(self.market.quote.decimals) - i64::from(self.market.base.decimals);
        // Enough digits to end any terminating expansion of x / lot (lot < 2^64 has at
        // most 64 factors of 2 or 5), or to show a repeating one to the precision shown.
        let digits_max = 64 + i64::from(REPEATING_DIGITS_SHOWN) + scale.max(0);
        let mut produced = 0;
        while remainder != 0 && produced < digits_max {
            remainder *= 10;
            digits.push(char::from(
                b'0' + u8::try_from(remainder / lot).expect("a digit"),
            ));
            remainder %= lot;
            scale += 1;
            produced += 1;
        }
        let text = render(&digits, scale, frac_min);
        if remainder == 0 {
            return (text, false);
        }
        let shown = usize::try_from(REPEATING_DIGITS_SHOWN).expect("small");
        let text = match text.split_once('.') {
            Some((int, frac)) if frac.len() > shown => format!("{int}.{}", &frac[..shown]),
            _ => text,
        };
        (text, true)
    }

    /// A price for the humans: the symbol of the quote per base unit.
    pub fn price_unit(&self) -> String {
        format!(
            "{} per {}",
            self.market.quote.symbol, self.market.base.symbol
        )
    }

    /// Parses a quantity in base units into base atoms, refusing anything that is not a
    /// whole number of lots within the market's limits.
    ///
    /// ```
    /// # use cli::units::MarketUnits;
    /// # let units = cli::units::tests_support::btc_usd();
    /// assert_eq!(units.qty_atoms("0.01"), Ok(1_000_000));
    /// assert!(units.qty_atoms("0.00015").is_err());
    /// ```
    pub fn qty_atoms(&self, text: &str) -> Result<u64, UnitError> {
        let what = "qty";
        let value = parse_decimal(what, text)?;
        let overflow = || UnitError::Overflow {
            what,
            text: text.to_string(),
        };
        let (floor, exact) =
            scale_exact(value, 1, u32::from(self.market.base.decimals), 0).ok_or_else(overflow)?;
        let atoms = on_grid(floor, exact, self.market.lot_size).map_err(|(below, above)| {
            let show =
                |atoms: u128| format_atoms(atoms, self.market.base.decimals, self.qty_decimals());
            UnitError::OffGrid {
                what,
                text: text.to_string(),
                grid: format!(
                    "a multiple of the lot size {} {}",
                    self.format_qty(self.market.lot_size),
                    self.market.base.symbol
                ),
                below: (below > 0).then(|| show(below)),
                above: show(above),
            }
        })?;
        let range = || UnitError::OutOfRange {
            what,
            text: text.to_string(),
            range: format!(
                "{} takes {} to {} {}",
                self.market.symbol,
                self.format_qty(self.market.qty_min),
                self.format_qty(self.market.qty_max),
                self.market.base.symbol
            ),
        };
        let atoms = u64::try_from(atoms).map_err(|_| range())?;
        if atoms < self.market.qty_min || atoms > self.market.qty_max {
            return Err(range());
        }
        Ok(atoms)
    }

    /// Parses a price in quote units per base unit into quote atoms per lot, refusing
    /// anything that is not a positive multiple of the tick up to the market's maximum.
    ///
    /// ```
    /// # let units = cli::units::tests_support::btc_usd();
    /// assert_eq!(units.price_atoms("65000.5"), Ok(6_500_050));
    /// assert!(units.price_atoms("65000.505").is_err());
    /// ```
    pub fn price_atoms(&self, text: &str) -> Result<u64, UnitError> {
        let what = "price";
        let value = parse_decimal(what, text)?;
        let overflow = || UnitError::Overflow {
            what,
            text: text.to_string(),
        };
        let (floor, exact) = scale_exact(
            value,
            u128::from(self.market.lot_size),
            u32::from(self.market.quote.decimals),
            u32::from(self.market.base.decimals),
        )
        .ok_or_else(overflow)?;
        let atoms = on_grid(floor, exact, self.market.tick_size).map_err(|(below, above)| {
            let show = |atoms: u128| match u64::try_from(atoms) {
                Ok(atoms) => self.format_price(atoms),
                Err(_) => format!("{atoms} atoms per lot"),
            };
            UnitError::OffGrid {
                what,
                text: text.to_string(),
                grid: format!(
                    "on the tick ({} {})",
                    self.format_price(self.market.tick_size),
                    self.price_unit()
                ),
                below: (below > 0).then(|| show(below)),
                above: show(above),
            }
        })?;
        let range = || UnitError::OutOfRange {
            what,
            text: text.to_string(),
            range: format!(
                "{} takes {} to {} {}",
                self.market.symbol,
                self.format_price(self.market.tick_size),
                self.format_price(self.market.price_max),
                self.price_unit()
            ),
        };
        let atoms = u64::try_from(atoms).map_err(|_| range())?;
        if atoms == 0 || atoms > self.market.price_max {
            return Err(range());
        }
        Ok(atoms)
    }

    /// The quote amount of `qty` base atoms at `price` quote atoms per lot (what a buy
    /// pays before fees), in quote atoms.
    pub fn notional(&self, price: u64, qty: u64) -> u128 {
        u128::from(price) * u128::from(qty) / u128::from(self.market.lot_size)
    }
}

/// Markets for doc examples and tests.
#[doc(hidden)]
pub mod tests_support {
    use super::MarketUnits;
    use api::wire::{AssetJson, MarketJson};

    /// The dev chain's BTC-USD: BTC 8 decimals, USD 6, lot 0.0001 BTC, tick $0.01.
    pub fn btc_usd() -> MarketUnits {
        MarketUnits {
            market: MarketJson {
                id: 0,
                symbol: "BTC-USD".into(),
                base: AssetJson {
                    id: 1,
                    symbol: "BTC".into(),
                    decimals: 8,
                },
                quote: AssetJson {
                    id: 0,
                    symbol: "USD".into(),
                    decimals: 6,
                },
                tick_size: 1,
                lot_size: 10_000,
                qty_min: 10_000,
                qty_max: 10_000_000_000,
                price_max: 1_000_000_000,
                maker_fee_bps: 0,
                taker_fee_bps: 0,
                best_bid: None,
                best_ask: None,
                resting_orders: 0,
                last_trade_seq: 0,
                resting_orders_per_account_max: 1_000,
                resting_orders_per_book_max: 100_000,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::btc_usd;
    use super::*;
    use proptest::prelude::*;

    fn market(base_decimals: u8, quote_decimals: u8, tick_size: u64, lot_size: u64) -> MarketUnits {
        let mut units = btc_usd();
        units.market.base.decimals = base_decimals;
        units.market.quote.decimals = quote_decimals;
        units.market.tick_size = tick_size;
        units.market.lot_size = lot_size;
        units.market.qty_min = lot_size;
        units.market.qty_max = u64::MAX;
        units.market.price_max = u64::MAX;
        units
    }

    fn sol_usd() -> MarketUnits {
        market(9, 6, 10, 10_000_000)
    }

    #[test]
    fn the_brief_example_converts_exactly() {
        let units = btc_usd();
        assert_eq!(units.qty_atoms("0.01"), Ok(1_000_000));
        assert_eq!(units.price_atoms("65000.50"), Ok(6_500_050));
        assert_eq!(units.price_atoms("65000.5"), Ok(6_500_050));
        assert_eq!(units.format_price(6_500_050), "65000.50");
        assert_eq!(units.format_qty(1_000_000), "0.0100");
        assert_eq!(units.price_decimals(), 2);
        assert_eq!(units.qty_decimals(), 4);
        // 0.01 BTC at $65000.50 is $650.005.
        assert_eq!(units.notional(6_500_050, 1_000_000), 650_005_000);
    }

    #[test]
    fn the_dev_markets_have_the_documented_ticks() {
        assert_eq!(sol_usd().format_price(10), "0.001");
        assert_eq!(sol_usd().price_atoms("142.125"), Ok(1_421_250));
        let eth = market(9, 6, 10, 1_000_000);
        assert_eq!(eth.format_price(10), "0.01");
        assert_eq!(eth.format_qty(1_000_000), "0.001");
    }

    #[test]
    fn off_tick_prices_are_refused_with_both_neighbours() {
        let err = btc_usd().price_atoms("65000.505").unwrap_err();
        assert_eq!(
            err.to_string(),
            "price 65000.505 is not on the tick (0.01 USD per BTC); nearest valid: 65000.50 or 65000.51"
        );
        // Finer than an atom per lot is the same refusal.
        let err = sol_usd().price_atoms("1.0005").unwrap_err();
        assert!(
            err.to_string().ends_with("nearest valid: 1.000 or 1.001"),
            "{err}"
        );
    }

    #[test]
    fn off_lot_quantities_are_refused_with_both_neighbours() {
        let err = btc_usd().qty_atoms("0.00015").unwrap_err();
        assert_eq!(
            err.to_string(),
            "qty 0.00015 is not a multiple of the lot size 0.0001 BTC; nearest valid: 0.0001 or 0.0002"
        );
        // Below one lot there is no valid value under it.
        let err = btc_usd().qty_atoms("0.00000001").unwrap_err();
        assert!(err.to_string().ends_with("nearest valid: 0.0001"), "{err}");
        let err = btc_usd().qty_atoms("0.000000001").unwrap_err();
        assert!(matches!(err, UnitError::OffGrid { .. }), "{err}");
    }

    #[test]
    fn out_of_range_and_overflow_are_refused() {
        let units = btc_usd();
        assert!(matches!(
            units.qty_atoms("0"),
            Err(UnitError::OutOfRange { .. })
        ));
        assert!(matches!(
            units.qty_atoms("1000000"),
            Err(UnitError::OutOfRange { .. })
        ));
        assert!(matches!(
            units.price_atoms("0"),
            Err(UnitError::OutOfRange { .. })
        ));
        assert!(matches!(
            units.price_atoms("10000000.01"),
            Err(UnitError::OutOfRange { .. })
        ));
        let huge = "9".repeat(45);
        assert!(matches!(
            units.qty_atoms(&huge),
            Err(UnitError::Overflow { .. })
        ));
        assert!(matches!(
            units.price_atoms(&huge),
            Err(UnitError::Overflow { .. })
        ));
        let wide = market(8, 6, 1, 10_000);
        // Fits a u128 but not a u64.
        assert!(matches!(
            wide.qty_atoms("1000000000000000000000"),
            Err(UnitError::OutOfRange { .. })
        ));
        assert!(matches!(
            parse_amount("amount", "184467440737.09551616", 8, "BTC"),
            Err(UnitError::Overflow { .. })
        ));
        assert_eq!(
            parse_amount("amount", "184467440737.09551615", 8, "BTC"),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn malformed_numbers_are_refused() {
        for text in [
            "", ".", "-1", "1e5", "1,5", "1.2.3", "0x10", " ", "+1", "1 000",
        ] {
            assert!(
                matches!(btc_usd().qty_atoms(text), Err(UnitError::Malformed { .. })),
                "{text:?}"
            );
        }
        assert_eq!(btc_usd().qty_atoms(".01"), Ok(1_000_000));
        assert_eq!(btc_usd().qty_atoms("1."), Ok(100_000_000));
        assert_eq!(
            btc_usd().qty_atoms("0001.0000000000000000000000000000000000000000"),
            Ok(100_000_000)
        );
    }

    #[test]
    fn repeating_prices_are_marked_approximate() {
        // A lot of 3 atoms: one atom per lot is a third of an atom per base atom.
        let units = market(0, 0, 1, 3);
        assert_eq!(units.format_price(3), "1");
        assert!(units.format_price(1).starts_with("~0.333333333333"));
        assert_eq!(units.price_atoms("1"), Ok(3));
        assert!(units.price_atoms("0.5").is_err());
    }

    #[test]
    fn asset_amounts_format_and_parse() {
        assert_eq!(format_atoms(0, 6, 0), "0");
        assert_eq!(format_atoms(0, 6, 6), "0.000000");
        assert_eq!(format_atoms(123, 0, 0), "123");
        assert_eq!(format_atoms(10_000_000_000_000, 6, 2), "10000000.00");
        assert_eq!(
            parse_amount("amount", "100000", 6, "USD"),
            Ok(100_000_000_000)
        );
        let err = parse_amount("amount", "0.0000015", 6, "USD").unwrap_err();
        assert_eq!(
            err.to_string(),
            "amount 0.0000015 is not a whole number of USD atoms (USD has 6 decimals); \
             nearest valid: 0.000001 or 0.000002"
        );
    }

    proptest! {
        #[test]
        fn atoms_round_trip(atoms: u64, decimals in 0u8..=40, frac_min in 0usize..12) {
            let text = format_atoms(u128::from(atoms), decimals, frac_min);
            prop_assert_eq!(parse_amount("amount", &text, decimals, "X"), Ok(atoms));
        }

        #[test]
        fn prices_and_quantities_round_trip(
            base_decimals in 0u8..=18,
            quote_decimals in 0u8..=18,
            tick_size in 1u64..10_000,
            lot_two in 0u32..20,
            lot_five in 0u32..12,
            lot_other in prop::sample::select(vec![1u64, 3, 7, 11]),
            ticks in 1u64..1_000_000_000,
            lots in 1u64..1_000_000_000,
        ) {
            let lot_size = 2u64.pow(lot_two) * 5u64.pow(lot_five) * lot_other;
            let units = market(base_decimals, quote_decimals, tick_size, lot_size);
            let price = ticks * tick_size;
            let shown = units.format_price(price);
            if shown.starts_with('~') {
                prop_assert!(lot_other != 1);
            } else {
                prop_assert_eq!(units.price_atoms(&shown), Ok(price));
            }
            if let Some(qty) = lots.checked_mul(lot_size) {
                prop_assert_eq!(units.qty_atoms(&units.format_qty(qty)), Ok(qty));
            }
        }

        /// Any decimal is either taken exactly or refused with valid neighbours that
        /// bracket it.
        #[test]
        fn refusals_name_valid_neighbours(int in 0u64..100_000, frac in 0u64..100_000_000, width in 1usize..9) {
            let units = btc_usd();
            let frac = format!("{frac:0>width$}");
            let text = format!("{int}.{}", &frac[..width.min(frac.len())]);
            match units.price_atoms(&text) {
                Ok(atoms) => {
                    let back = units.format_price(atoms);
                    prop_assert_eq!(units.price_atoms(&back), Ok(atoms));
                    prop_assert_eq!(
                        parse_decimal("x", &back).unwrap(),
                        parse_decimal("x", &text).unwrap()
                    );
                }
                Err(UnitError::OffGrid { below, above, .. }) => {
                    let above = units.price_atoms(&above).unwrap();
                    let wanted = parse_decimal("x", &text).unwrap();
                    // Compared in atoms per lot times 10^scale, so everything is whole.
                    // BTC-USD: atoms per lot = price × 10^6 × 10^4 / 10^8 = price × 100.
                    let scaled_wanted = wanted.digits * 100;
                    let scaled = |atoms: u64| u128::from(atoms) * 10u128.pow(wanted.scale);
                    prop_assert!(scaled(above) > scaled_wanted);
                    if let Some(below) = below {
                        let below = units.price_atoms(&below).unwrap();
                        prop_assert!(scaled(below) < scaled_wanted);
                        prop_assert_eq!(above - below, units.market.tick_size);
                    }
                }
                Err(UnitError::OutOfRange { .. }) => prop_assert!(int == 0),
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
    }
}
