//! The dev chain: demo assets and markets, and funded demo accounts whose keys are
//! derived from their index, so tests, benches and the node's dev mode agree on them.
//! Never use these keys for anything of value.

use ed25519_dalek::SigningKey;
use matching::{MarketParams, Price, Qty, Side};
use sha2::{Digest as _, Sha256};

use crate::limits::MARKETS_MAX;
use crate::state::{AssetConfig, FaucetConfig, Genesis, GenesisBalance, MarketConfig};
use crate::{AssetId, ChainId};

/// The dev chain's id.
pub const CHAIN_ID: ChainId = ChainId(1337);
/// Genesis time of the dev chain (2026-01-01T00:00:00Z), fixed so its genesis hash is.
pub const GENESIS_TIMESTAMP_MS: u64 = 1_767_225_600_000;

/// Asset ids of the dev chain.
pub const USD: AssetId = AssetId(0);
pub const BTC: AssetId = AssetId(1);
pub const ETH: AssetId = AssetId(2);
pub const SOL: AssetId = AssetId(3);

/// The demo key with this index.
pub fn key(index: u64) -> SigningKey {
    let seed: [u8; 32] = Sha256::new()
        .chain_update(b"clobchain/dev-key/v1")
        .chain_update(index.to_le_bytes())
        .finalize()
        .into();
    SigningKey::from_bytes(&seed)
}

/// The fee account's key on the dev chain.
pub fn fee_key() -> SigningKey {
    let seed: [u8; 32] = Sha256::new()
        .chain_update(b"clobchain/dev-fee-key/v1")
        .finalize()
        .into();
    SigningKey::from_bytes(&seed)
}

/// The demo markets: BTC-USD, ETH-USD, SOL-USD.
///
/// | market | lot | tick (per whole base unit) | tick_size (USD atoms per lot per tick) |
/// |---|---|---|---|
/// | BTC-USD | 0.0001 BTC | $0.01 | 1 |
/// | ETH-USD | 0.001 ETH | $0.01 | 10 |
/// | SOL-USD | 0.01 SOL | $0.001 | 10 |
pub fn markets() -> Vec<MarketConfig> {
    let market = |symbol: &str, base: AssetId, tick_size, lot_size, price_ticks_max| MarketConfig {
        symbol: symbol.into(),
        base,
        quote: USD,
        params: MarketParams {
            tick_size,
            lot_size,
            price_ticks_max: Price(price_ticks_max),
            qty_lots_min: Qty(1),
            qty_lots_max: Qty(1_000_000),
            orders_per_account_max: 10_000,
            orders_per_book_max: 1_000_000,
        },
        maker_fee_bps: 2,
        taker_fee_bps: 5,
    };
    vec![
        // BTC has 8 decimals: a lot is 10^4 sats; USD has 6: $0.01/BTC is 1 atom per lot.
        market("BTC-USD", BTC, 1, 10_000, 1_000_000_000),
        // ETH has 9 decimals here: a lot is 10^6; $0.01/ETH is 10 atoms per lot.
        market("ETH-USD", ETH, 10, 1_000_000, 100_000_000),
        // SOL has 9 decimals: a lot is 10^7; $0.001/SOL is 10 atoms per lot.
        market("SOL-USD", SOL, 10, 10_000_000, 100_000_000),
    ]
}

/// A dev genesis with `accounts` funded demo accounts; returns their keys too.
pub fn genesis(accounts: u64) -> (Genesis, Vec<SigningKey>) {
    let keys: Vec<SigningKey> = (0..accounts).map(key).collect();
    let assets = vec![
        AssetConfig {
            symbol: "USD".into(),
            decimals: 6,
        },
        AssetConfig {
            symbol: "BTC".into(),
            decimals: 8,
        },
        AssetConfig {
            symbol: "ETH".into(),
            decimals: 9,
        },
        AssetConfig {
            symbol: "SOL".into(),
            decimals: 9,
        },
    ];
    // Per account: $10M, 100 BTC, 1,000 ETH, 10,000 SOL.
    let grants = [
        (USD, 10_000_000_000_000),
        (BTC, 10_000_000_000),
        (ETH, 1_000_000_000_000),
        (SOL, 10_000_000_000_000),
    ];
    let balances = keys
        .iter()
        .flat_map(|key| {
            let account = key.verifying_key().to_bytes();
            grants.iter().map(move |&(asset, amount)| GenesisBalance {
                account,
                asset,
                amount,
            })
        })
        .collect();
    let genesis = Genesis {
        chain_id: CHAIN_ID,
        timestamp_ms: GENESIS_TIMESTAMP_MS,
        assets,
        markets: markets(),
        fee_account: fee_key().verifying_key().to_bytes(),
        balances,
        faucet: Some(FaucetConfig {
            amount_max: 1_000_000_000_000,
        }),
    };
    (genesis, keys)
}

/// Atoms of every asset each account of [`genesis`] gets.
pub const GENESIS_GRANT: u64 = 10_000_000_000_000;

/// A genesis with `markets` markets over a few assets, and `accounts` demo accounts
/// (`key(i)`) holding [`GENESIS_GRANT`] atoms of every asset. Markets quote in USD
/// first (`T1-USD`, `T2-USD`, …), then in each other (`T2-T1`, …); as few assets as
/// give enough pairs (at least four). Tick sizes, lot sizes and fees vary by market.
pub fn genesis_markets(accounts: u64, markets: u32) -> (Genesis, Vec<SigningKey>) {
    assert!(
        markets >= 1 && markets as usize <= MARKETS_MAX,
        "1..={MARKETS_MAX} markets"
    );
    assert!(
        u128::from(accounts) * u128::from(GENESIS_GRANT) <= u128::from(u64::MAX),
        "supply fits a u64"
    );
    let mut asset_count: u32 = 4;
    while asset_count * (asset_count - 1) < markets {
        asset_count += 1;
    }
    let mut assets = vec![AssetConfig {
        symbol: "USD".into(),
        decimals: 6,
    }];
    assets.extend((1..asset_count).map(|i| AssetConfig {
        symbol: format!("T{i}"),
        decimals: 9,
    }));
    let mut pairs: Vec<(u32, u32)> = (1..asset_count).map(|base| (base, 0)).collect();
    for quote in 1..asset_count {
        pairs.extend(
            (1..asset_count)
                .filter(|&base| base != quote)
                .map(|base| (base, quote)),
        );
    }
    let market_configs = pairs
        .into_iter()
        .take(markets as usize)
        .enumerate()
        .map(|(m, (base, quote))| MarketConfig {
            symbol: format!(
                "{}-{}",
                assets[base as usize].symbol, assets[quote as usize].symbol
            ),
            base: AssetId(base),
            quote: AssetId(quote),
            params: MarketParams {
                tick_size: [1, 2, 5, 10][m % 4],
                lot_size: [1_000, 10_000, 100_000][m % 3],
                price_ticks_max: Price(1_000_000_000),
                qty_lots_min: Qty(1),
                qty_lots_max: Qty(1_000_000),
                orders_per_account_max: 10_000,
                orders_per_book_max: 1_000_000,
            },
            maker_fee_bps: [0, 1, 2][m % 3],
            taker_fee_bps: [5, 6, 7, 10][m % 4],
        })
        .collect();
    let keys: Vec<SigningKey> = (0..accounts).map(key).collect();
    let balances = keys
        .iter()
        .flat_map(|key| {
            let account = key.verifying_key().to_bytes();
            (0..asset_count).map(move |asset| GenesisBalance {
                account,
                asset: AssetId(asset),
                amount: GENESIS_GRANT,
            })
        })
        .collect();
    let genesis = Genesis {
        chain_id: CHAIN_ID,
        timestamp_ms: GENESIS_TIMESTAMP_MS,
        assets,
        markets: market_configs,
        fee_account: fee_key().verifying_key().to_bytes(),
        balances,
        faucet: Some(FaucetConfig {
            amount_max: 1_000_000_000_000,
        }),
    };
    (genesis, keys)
}

/// SplitMix64 (Steele, Lea and Flood, 2014): integers only, so a seed gives the same
/// stream everywhere.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub const fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by Lemire's multiply-shift; the bias is below
    /// `n / 2^64`.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let wide = u128::from(self.next_u64()) * u128::from(n);
        u64::try_from(wide >> 64).expect("the high half of a u64 × u64 product fits a u64")
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "Rng::between({low}, {high})");
        low + self.below(high - low + 1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// An index in `0..len` (`len > 0`).
    pub fn index(&mut self, len: usize) -> usize {
        let len = u64::try_from(len).expect("usize fits a u64");
        usize::try_from(self.below(len)).expect("an index below a usize fits a usize")
    }

    pub fn side(&mut self) -> Side {
        if self.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }

    /// An index into `weights`, each chosen with probability proportional to its weight.
    #[cfg(any(test, feature = "test-utils"))]
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        assert!(total > 0, "all weights are zero");
        let mut roll = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if roll < u64::from(w) {
                return i;
            }
            roll -= u64::from(w);
        }
        unreachable!("roll below the total")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_of_any_size_is_valid() {
        for markets in [1, 3, 8, 64, u32::try_from(MARKETS_MAX).expect("fits")] {
            let (genesis, keys) = genesis_markets(5, markets);
            assert_eq!(genesis.markets.len(), markets as usize);
            assert_eq!(keys.len(), 5);
            let state = crate::State::from_genesis(&genesis)
                .unwrap_or_else(|e| panic!("{markets} markets: {e}"));
            assert_eq!(state.markets().len(), markets as usize);
            let mut symbols: Vec<&str> =
                genesis.markets.iter().map(|m| m.symbol.as_str()).collect();
            symbols.sort_unstable();
            symbols.dedup();
            assert_eq!(symbols.len(), markets as usize, "one market per pair");
        }
    }
}
