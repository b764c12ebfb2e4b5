//! A chain from a genesis file (`clobchain node --genesis`): the node runs the file's
//! assets, markets and balances, writes no dev keys, keeps its data directory to that
//! genesis, and leaves a genesis that names validators to them.

use api::wire::{ActionResult, EventJson};
use ed25519_dalek::SigningKey;
use matching::Side;
use node::genesis::{AssetEntry, BalanceEntry, GenesisFile, MarketEntry, ValidatorSet};

use crate::node_support::{Trader, fast_config, start_node};

/// The dev chain with one more asset (DOGE) and market (DOGE-USD), and two new traders
/// funded only by the file.
fn doge_genesis(sellers: &Trader, buyer: &Trader) -> GenesisFile {
    let mut file = GenesisFile::from_genesis(&node::dev_genesis(1).0);
    file.assets.push(AssetEntry {
        symbol: "DOGE".into(),
        decimals: 8,
    });
    file.markets.push(MarketEntry {
        symbol: "DOGE-USD".into(),
        base: "DOGE".into(),
        quote: "USD".into(),
        tick_size: 10,
        lot_size: 1_000,
        price_ticks_max: 1_000_000,
        qty_lots_min: 1,
        qty_lots_max: 1_000_000,
        orders_per_account_max: 100,
        orders_per_book_max: 10_000,
        maker_fee_bps: 2,
        taker_fee_bps: 5,
    });
    for (trader, asset) in [(sellers, "DOGE"), (buyer, "USD")] {
        file.balances.push(BalanceEntry {
            account: trader.hex(),
            asset: asset.into(),
            amount: 1_000_000_000_000,
        });
    }
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_the_chain_of_its_genesis_file() {
    let seller = Trader::with_key(SigningKey::from_bytes(&[7; 32]));
    let buyer = Trader::with_key(SigningKey::from_bytes(&[8; 32]));
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("genesis.json");
    doge_genesis(&seller, &buyer).write(&path).unwrap();

    let node = start_node(|c| c.genesis = Some(path.clone())).await;
    let doge = node.api.market(3).await;
    assert_eq!(doge.symbol, "DOGE-USD");
    assert_eq!((doge.tick_size, doge.lot_size), (10, 1_000));
    let account = node.api.account(&seller.hex()).await;
    let funded: Vec<_> = account
        .balances
        .iter()
        .filter(|b| b.available > 0)
        .map(|b| (b.symbol.as_str(), b.available))
        .collect();
    assert_eq!(funded, [("DOGE", 1_000_000_000_000)]);

    // The file's traders trade on the file's market.
    let sell = node
        .api
        .submit_committed(&seller.place(3, Side::Sell, 5_000, 3_000))
        .await;
    let receipt = sell.receipt.expect("waited");
    assert!(
        matches!(receipt.actions[..], [ActionResult::Placed { .. }]),
        "{receipt:?}"
    );
    let buy = node
        .api
        .submit_committed(&buyer.place(3, Side::Buy, 5_000, 3_000))
        .await;
    let receipt = buy.receipt.expect("waited");
    assert!(
        receipt
            .events
            .iter()
            .any(|e| matches!(e, EventJson::Fill(_))),
        "{receipt:?}"
    );
    assert_eq!(
        receipt.finality, None,
        "a single producer's blocks have no certificate"
    );
    // Its demo accounts' keys are not the node's to hand out.
    assert!(!node.dir.path().join("dev-keys.json").exists());

    // The data directory belongs to this genesis: the dev chain does not open it.
    let dir = node.stop().await;
    let mut dev = fast_config(dir.path());
    dev.genesis = None;
    let refused = ::node::start(dev).await.expect_err("another genesis");
    assert!(format!("{refused:#}").contains("genesis"), "{refused:#}");
}

#[tokio::test]
async fn a_genesis_that_names_validators_is_theirs_to_run() {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("genesis.json");
    let mut file = GenesisFile::from_genesis(&node::dev_genesis(1).0);
    file.validators = Some(ValidatorSet {
        namespace: "somewhere".into(),
        public_keys: vec![hex::encode([5; 32])],
    });
    file.write(&path).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = fast_config(data.path());
    config.genesis = Some(path);
    let refused = ::node::start(config)
        .await
        .expect_err("not a single node's chain");
    assert!(
        format!("{refused:#}").contains("--validator-key"),
        "{refused:#}"
    );
}
