//! The genesis file (`genesis.json`): everything block 0 fixes (assets, markets, fee
//! account, balances, faucet) and, for a chain of validators, the validator set.
//!
//! `clobchain genesis` writes the dev chain's genesis in this form, to edit and start
//! a chain with `clobchain node --genesis FILE`; `clobchain testnet` writes one that all
//! its validators start from. With no file the node runs the embedded dev chain.
//!
//! ```json
//! { "chain_id": 1, "timestamp_ms": 1767225600000,
//!   "assets": [ { "symbol": "USD", "decimals": 6 }, { "symbol": "BTC", "decimals": 8 } ],
//!   "markets": [ { "symbol": "BTC-USD", "base": "BTC", "quote": "USD",
//!                  "tick_size": 1, "lot_size": 10000, "price_ticks_max": 1000000000,
//!                  "qty_lots_min": 1, "qty_lots_max": 1000000, "orders_per_account_max": 1000,
//!                  "orders_per_book_max": 1000000, "maker_fee_bps": 2, "taker_fee_bps": 5 } ],
//!   "fee_account": "<64 hex>",
//!   "balances": [ { "account": "<64 hex>", "asset": "USD", "amount": 1000000000000 } ],
//!   "faucet": { "amount_max": 100000000000 },
//!   "validators": { "namespace": "clobchain-testnet", "public_keys": ["<64 hex>", …] } }
//! ```
//!
//! Assets are named by symbol and numbered in file order (0, 1, …), as are markets.
//! Amounts are plain JSON integers (u64). Unknown fields are refused, so a misspelt key
//! is an error rather than a default. Two files that read to the same [`Genesis`] give
//! the same chain (the genesis hash is over its borsh bytes, not the JSON).

use std::path::Path;

use anyhow::Context as _;
use markets::{
    AssetConfig, AssetId, ChainId, FaucetConfig, Genesis, GenesisBalance, MarketConfig, State,
};
use matching::{MarketParams, Price, Qty};
use serde::{Deserialize, Serialize};

/// Validators a genesis file may name.
pub const VALIDATORS_MAX: usize = 100;

/// The genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    pub chain_id: u64,
    pub timestamp_ms: u64,
    pub assets: Vec<AssetEntry>,
    pub markets: Vec<MarketEntry>,
    /// Hex of the 32-byte key that receives all trading fees.
    pub fee_account: String,
    #[serde(default)]
    pub balances: Vec<BalanceEntry>,
    /// Absent or `null`: no faucet transactions on this chain.
    #[serde(default)]
    pub faucet: Option<FaucetEntry>,
    /// The validator set; absent for a chain one node produces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validators: Option<ValidatorSet>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetEntry {
    pub symbol: String,
    pub decimals: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketEntry {
    pub symbol: String,
    /// An asset's symbol.
    pub base: String,
    pub quote: String,
    pub tick_size: u64,
    pub lot_size: u64,
    pub price_ticks_max: u64,
    pub qty_lots_min: u64,
    pub qty_lots_max: u64,
    pub orders_per_account_max: u32,
    pub orders_per_book_max: u32,
    pub maker_fee_bps: u16,
    pub taker_fee_bps: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceEntry {
    /// Hex of the account's 32-byte ed25519 public key.
    pub account: String,
    /// An asset's symbol.
    pub asset: String,
    pub amount: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaucetEntry {
    pub amount_max: u64,
}

/// Who votes, and the namespace signed into every vote (so votes of one network are
/// never valid in another).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSet {
    pub namespace: String,
    /// Hex of each validator's 32-byte ed25519 public key.
    pub public_keys: Vec<String>,
}

impl GenesisFile {
    /// Reads and checks a genesis file: it parses, names known assets, and gives a
    /// genesis state (every limit of [`State::from_genesis`]).
    pub fn read(path: &Path) -> anyhow::Result<GenesisFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: GenesisFile =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        file.genesis()
            .with_context(|| format!("checking {}", path.display()))?;
        Ok(file)
    }

    /// Writes the file as indented JSON, durably enough for a configuration file.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("plain data");
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// The chain's genesis, checked.
    pub fn genesis(&self) -> anyhow::Result<Genesis> {
        let asset = |symbol: &str| -> anyhow::Result<AssetId> {
            let index = self
                .assets
                .iter()
                .position(|a| a.symbol == symbol)
                .with_context(|| format!("no asset {symbol:?}"))?;
            Ok(AssetId(u32::try_from(index).expect("assets are few")))
        };
        let markets = self
            .markets
            .iter()
            .map(|m| {
                Ok(MarketConfig {
                    symbol: m.symbol.clone(),
                    base: asset(&m.base).with_context(|| format!("market {}", m.symbol))?,
                    quote: asset(&m.quote).with_context(|| format!("market {}", m.symbol))?,
                    params: MarketParams {
                        tick_size: m.tick_size,
                        lot_size: m.lot_size,
                        price_ticks_max: Price(m.price_ticks_max),
                        qty_lots_min: Qty(m.qty_lots_min),
                        qty_lots_max: Qty(m.qty_lots_max),
                        orders_per_account_max: m.orders_per_account_max,
                        orders_per_book_max: m.orders_per_book_max,
                    },
                    maker_fee_bps: m.maker_fee_bps,
                    taker_fee_bps: m.taker_fee_bps,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let balances = self
            .balances
            .iter()
            .map(|b| {
                Ok(GenesisBalance {
                    account: key(&b.account).context("a balance's account")?,
                    asset: asset(&b.asset)?,
                    amount: b.amount,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let genesis = Genesis {
            chain_id: ChainId(self.chain_id),
            timestamp_ms: self.timestamp_ms,
            assets: self
                .assets
                .iter()
                .map(|a| AssetConfig {
                    symbol: a.symbol.clone(),
                    decimals: a.decimals,
                })
                .collect(),
            markets,
            fee_account: key(&self.fee_account).context("fee_account")?,
            balances,
            faucet: self.faucet.as_ref().map(|f| FaucetConfig {
                amount_max: f.amount_max,
            }),
        };
        State::from_genesis(&genesis)?;
        if let Some(set) = &self.validators {
            set.public_keys()?;
        }
        Ok(genesis)
    }

    /// The file form of a genesis (no validators).
    pub fn from_genesis(genesis: &Genesis) -> GenesisFile {
        let symbol = |id: AssetId| genesis.assets[id.0 as usize].symbol.clone();
        GenesisFile {
            chain_id: genesis.chain_id.0,
            timestamp_ms: genesis.timestamp_ms,
            assets: genesis
                .assets
                .iter()
                .map(|a| AssetEntry {
                    symbol: a.symbol.clone(),
                    decimals: a.decimals,
                })
                .collect(),
            markets: genesis
                .markets
                .iter()
                .map(|m| MarketEntry {
                    symbol: m.symbol.clone(),
                    base: symbol(m.base),
                    quote: symbol(m.quote),
                    tick_size: m.params.tick_size,
                    lot_size: m.params.lot_size,
                    price_ticks_max: m.params.price_ticks_max.0,
                    qty_lots_min: m.params.qty_lots_min.0,
                    qty_lots_max: m.params.qty_lots_max.0,
                    orders_per_account_max: m.params.orders_per_account_max,
                    orders_per_book_max: m.params.orders_per_book_max,
                    maker_fee_bps: m.maker_fee_bps,
                    taker_fee_bps: m.taker_fee_bps,
                })
                .collect(),
            fee_account: hex::encode(genesis.fee_account),
            balances: genesis
                .balances
                .iter()
                .map(|b| BalanceEntry {
                    account: hex::encode(b.account),
                    asset: symbol(b.asset),
                    amount: b.amount,
                })
                .collect(),
            faucet: genesis.faucet.as_ref().map(|f| FaucetEntry {
                amount_max: f.amount_max,
            }),
            validators: None,
        }
    }
}

impl ValidatorSet {
    /// The validators' keys, each 32 bytes; 1 to [`VALIDATORS_MAX`] of them, no repeats.
    pub fn public_keys(&self) -> anyhow::Result<Vec<[u8; 32]>> {
        anyhow::ensure!(
            (1..=VALIDATORS_MAX).contains(&self.public_keys.len()),
            "a validator set has 1 to {VALIDATORS_MAX} validators"
        );
        anyhow::ensure!(!self.namespace.is_empty(), "the namespace is empty");
        let keys = self
            .public_keys
            .iter()
            .map(|k| key(k).with_context(|| format!("validator key {k}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        anyhow::ensure!(sorted.len() == keys.len(), "a validator is listed twice");
        Ok(keys)
    }
}

fn key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text).context("not hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("a key is 32 bytes (64 hex digits)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_genesis_round_trips_through_its_file() {
        let (genesis, _) = crate::dev_genesis(10);
        let file = GenesisFile::from_genesis(&genesis);
        assert_eq!(file.genesis().unwrap(), genesis);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.json");
        file.write(&path).unwrap();
        let read = GenesisFile::read(&path).unwrap();
        assert_eq!(read.genesis().unwrap().hash(), genesis.hash());
    }

    #[test]
    fn a_bad_genesis_file_is_refused_with_its_reason() {
        let (genesis, _) = crate::dev_genesis(2);
        let good = GenesisFile::from_genesis(&genesis);
        let refused = |f: &GenesisFile| format!("{:#}", f.genesis().unwrap_err());

        let mut f = good.clone();
        f.markets[0].quote = "EUR".into();
        assert!(refused(&f).contains("no asset \"EUR\""), "{}", refused(&f));
        let mut f = good.clone();
        f.balances[0].account = "zz".into();
        assert!(refused(&f).contains("not hex"));
        let mut f = good.clone();
        f.markets[0].tick_size = 0;
        assert!(refused(&f).contains("tick_size"), "{}", refused(&f));
        let mut f = good.clone();
        f.validators = Some(ValidatorSet {
            namespace: "n".into(),
            public_keys: vec![f.fee_account.clone(), f.fee_account.clone()],
        });
        assert!(refused(&f).contains("listed twice"));
        f.validators = Some(ValidatorSet {
            namespace: "n".into(),
            public_keys: Vec::new(),
        });
        assert!(refused(&f).contains("1 to 100 validators"));

        let text = serde_json::to_string(&good).unwrap();
        let misspelt = text.replace("\"fee_account\"", "\"fee_acount\"");
        assert!(serde_json::from_str::<GenesisFile>(&misspelt).is_err());
    }
}
