//! The dev chain: demo assets and markets, and funded demo accounts whose keys are
//! derived from their index, so tests, benches and the node's dev mode agree on them.
//! Never use these keys for anything of value.

use ed25519_dalek::SigningKey;
use matching::{MarketParams, Price, Qty};
use sha2::{Digest as _, Sha256};

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
