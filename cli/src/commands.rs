//! Running the client's commands: arguments in, API calls, a view (or `--json`) out.
//!
//! Signing commands are built in two steps, `prepare_*` (read what the transaction
//! needs from the node, convert units, sign) and then either send (`place`, `cancel`,
//! …) or print (`sign …`), so what `sign` prints is exactly what the command sends.

use anyhow::Context as _;
use api::wire::{AccountJson, FaucetRequest, MarketJson, SubmitResponse};
use ed25519_dalek::SigningKey;
use matching::OrderRef;
use serde::Serialize;

use super::display::{
    Catalog, account_lines, book_lines, market_lines, order_line, order_text, receipt_lines,
    refusal, trade_line,
};
use super::keys::{generate_key, load_key, resolve_account, write_key};
use super::sign::{OrderOptions, human_order};
use super::units::{MarketUnits, format_atoms, parse_amount};
use super::watch::{WatchOptions, watch};
use super::{
    AccountArgs, AmendArgs, BookArgs, CancelAllArgs, CancelArgs, Command, FaucetArgs, KeyArgs,
    KeygenArgs, MarketsArgs, OrderArgs, OrdersArgs, PlaceArgs, SignCommand, SigningArgs,
    TradesArgs, TxArgs, WatchArgs,
};
use client::tx::{
    SignedRequest, TxParams, amend_transaction, cancel_all_transaction, cancel_transaction,
    place_transaction, request_for,
};
use client::{Client, ClientError};

/// The chain refused a transaction or one of its actions (it is in a block with a
/// reject code).
#[derive(Debug, thiserror::Error)]
#[error("error {code}: {message}")]
struct Refused {
    code: String,
    message: String,
}

impl Refused {
    fn new(code: &str) -> Refused {
        let message = markets::Reject::all()
            .into_iter()
            .find(|r| r.name() == code)
            .map_or_else(
                || "refused by the chain".to_string(),
                api::error::reject_message,
            );
        Refused {
            code: code.to_string(),
            message,
        }
    }
}

/// Runs one client command and returns the process's exit status: 0 on success, 1 when
/// anything failed, after printing `error CODE: message` (API and chain refusals) or
/// `error: …` to stderr.
pub fn run(command: Command) -> i32 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(execute(command)) {
        Ok(()) => 0,
        Err(error) => {
            report(&error);
            1
        }
    }
}

fn report(error: &anyhow::Error) {
    if let Some(ClientError::Api { code, message, .. }) = error.downcast_ref::<ClientError>() {
        eprintln!("error {code}: {message}");
        if code == "UNKNOWN_ACCOUNT" {
            eprintln!(
                "hint: a new key has no account until it receives funds: \
                 `clobchain faucet --asset USD --amount 100000`"
            );
        }
    } else if let Some(refused) = error.downcast_ref::<Refused>() {
        eprintln!("{refused}");
    } else {
        eprintln!("error: {error:#}");
    }
}

async fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Keygen(args) => keygen(&args),
        Command::Account(args) => account(&args).await,
        Command::Faucet(args) => faucet(&args).await,
        Command::Place(args) => send(&args.node, prepare_place(&args).await?).await,
        Command::Cancel(args) => send(&args.node, prepare_cancel(&args).await?).await,
        Command::CancelAll(args) => send(&args.node, prepare_cancel_all(&args).await?).await,
        Command::Amend(args) => send(&args.node, prepare_amend(&args).await?).await,
        Command::Orders(args) => orders(&args).await,
        Command::Order(args) => order(&args).await,
        Command::Tx(args) => transaction(&args).await,
        Command::Book(args) => book(&args).await,
        Command::Trades(args) => trades(&args).await,
        Command::Markets(args) => list_markets(&args).await,
        Command::Watch(args) => watch_account(&args).await,
        Command::Sign(sign) => match sign {
            SignCommand::Place(args) => print_signed(&args.node, &prepare_place(&args).await?),
            SignCommand::Cancel(args) => print_signed(&args.node, &prepare_cancel(&args).await?),
            SignCommand::CancelAll(args) => {
                print_signed(&args.node, &prepare_cancel_all(&args).await?)
            }
            SignCommand::Amend(args) => print_signed(&args.node, &prepare_amend(&args).await?),
        },
    }
}

/// `println!` through [`emit`].
macro_rules! out {
    ($($arg:tt)*) => {
        emit(format_args!($($arg)*))
    };
}

/// Prints one line to stdout. A closed pipe (`clobchain trades X | head`) ends the
/// process quietly, as other command-line tools do, instead of panicking.
pub(super) fn emit(line: impl std::fmt::Display) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
}

fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    emit(serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_lines(lines: &[String]) {
    for line in lines {
        emit(line);
    }
}

fn client(node: &super::ClientArgs) -> anyhow::Result<Client> {
    Ok(Client::new(&node.node)?)
}

/// The account a command is about: the given one (hex, `devN`, key file), else the
/// signing key's.
fn account_of(given: Option<&str>, key: &KeyArgs) -> anyhow::Result<[u8; 32]> {
    let spec = given.unwrap_or(&key.key);
    Ok(resolve_account(spec, &key.data)?)
}

fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let key = generate_key()?;
    write_key(&args.out, &key, args.force)?;
    let account = hex::encode(key.verifying_key().to_bytes());
    if args.node.json {
        return print_json(&serde_json::json!({
            "public_key": account,
            "path": args.out,
        }));
    }
    out!("{account}");
    eprintln!(
        "wrote a new key to {} (keep it private). Fund its account on a dev chain with \
         `clobchain faucet --key {} --asset USD --amount 100000`.",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

async fn account(args: &AccountArgs) -> anyhow::Result<()> {
    let client = client(&args.node)?;
    let account = account_of(args.account.as_deref(), &args.key)?;
    let (view, markets) = tokio::try_join!(client.account(&account), client.markets())?;
    if args.node.json {
        return print_json(&view);
    }
    print_lines(&account_lines(&Catalog::new(&markets), &view));
    Ok(())
}

async fn faucet(args: &FaucetArgs) -> anyhow::Result<()> {
    let client = client(&args.node)?;
    let account = account_of(args.to.as_deref(), &args.key)?;
    let catalog = Catalog::new(&client.markets().await?);
    let asset = catalog.asset(&args.asset).cloned().with_context(|| {
        let known: Vec<&str> = catalog.assets().map(|a| a.symbol.as_str()).collect();
        format!(
            "no asset {:?} (the node's assets: {})",
            args.asset,
            known.join(", ")
        )
    })?;
    let amount = parse_amount("amount", &args.amount, asset.decimals, &asset.symbol)?;
    let request = FaucetRequest {
        account: hex::encode(account),
        asset: asset.id,
        amount,
    };
    let response = client.faucet(&request, !args.no_wait).await?;
    let summary = format!(
        "faucet: {} {} to {}",
        format_atoms(u128::from(amount), asset.decimals, 0),
        asset.symbol,
        request.account
    );
    show_response(&args.node, &catalog, &summary, &response)
}

/// A signed transaction ready to send or print.
#[derive(Debug)]
struct Prepared {
    request: SignedRequest,
    wait: bool,
    /// What it does, in decimals.
    summary: String,
    hash: String,
    nonce: u64,
    catalog: Catalog,
}

async fn tx_params(
    client: &Client,
    key: &SigningKey,
    args: &SigningArgs,
) -> anyhow::Result<TxParams> {
    let account = key.verifying_key().to_bytes();
    let nonce = async {
        match args.nonce {
            Some(nonce) => Ok(nonce),
            None => client.next_nonce(&account).await,
        }
    };
    let (health, nonce) = tokio::try_join!(client.health(), nonce)?;
    Ok(TxParams {
        chain_id: health.chain_id,
        nonce,
        expiry_height: args.expiry_height,
    })
}

fn signer(key: &KeyArgs) -> anyhow::Result<SigningKey> {
    Ok(load_key(&key.key, &key.data)?)
}

fn prepared(
    signed: &markets::SignedTransaction,
    wait: bool,
    summary: String,
    market: &MarketJson,
) -> Prepared {
    Prepared {
        request: request_for(signed),
        wait,
        summary,
        hash: signed.hash().to_string(),
        nonce: signed.transaction.nonce,
        catalog: Catalog::new(std::slice::from_ref(market)),
    }
}

async fn prepare_place(args: &PlaceArgs) -> anyhow::Result<Prepared> {
    let client = client(&args.node)?;
    let key = signer(&args.key)?;
    let (market, params) = tokio::try_join!(
        market(&client, &args.market),
        tx_params(&client, &key, &args.tx)
    )?;
    let options = OrderOptions {
        time_in_force: args.tif,
        post_only: args.post_only,
        client_order_id: args.client_id,
        self_trade: args.self_trade.into(),
    };
    let order = human_order(&market, args.side.into(), &args.qty, &args.price, options)?;
    let signed = place_transaction(&key, params, order);
    let order_id = signed.transaction.placed_order_ids()[0].0;
    let catalog = Catalog::new(std::slice::from_ref(&market));
    let summary = format!(
        "order {order_id}: {}",
        order_text(
            &catalog,
            market.id,
            order.side.into(),
            order.qty,
            order.price
        )
    );
    Ok(prepared(&signed, !args.no_wait, summary, &market))
}

async fn market(client: &Client, name: &str) -> anyhow::Result<MarketJson> {
    Ok(client.market(name).await?)
}

/// The market named, else the market of the order (looked up).
async fn market_of(
    client: &Client,
    named: Option<&str>,
    order_id: u64,
) -> anyhow::Result<MarketJson> {
    let name = match named {
        Some(name) => name.to_string(),
        None => client
            .order(order_id)
            .await
            .with_context(|| format!("looking up order {order_id}'s market (or pass --market)"))?
            .market
            .to_string(),
    };
    market(client, &name).await
}

async fn prepare_cancel(args: &CancelArgs) -> anyhow::Result<Prepared> {
    let client = client(&args.node)?;
    let key = signer(&args.key)?;
    let (market, params) = tokio::try_join!(
        market_of(&client, args.market.as_deref(), args.order_id),
        tx_params(&client, &key, &args.tx)
    )?;
    let signed = cancel_transaction(
        &key,
        params,
        market.id,
        OrderRef::Id(matching::OrderId(args.order_id)),
    );
    let summary = format!("cancel order {} on {}", args.order_id, market.symbol);
    Ok(prepared(&signed, !args.no_wait, summary, &market))
}

async fn prepare_cancel_all(args: &CancelAllArgs) -> anyhow::Result<Prepared> {
    let client = client(&args.node)?;
    let key = signer(&args.key)?;
    let (market, params) = tokio::try_join!(
        market(&client, &args.market),
        tx_params(&client, &key, &args.tx)
    )?;
    let signed = cancel_all_transaction(&key, params, market.id);
    let summary = format!("cancel all orders on {}", market.symbol);
    Ok(prepared(&signed, !args.no_wait, summary, &market))
}

async fn prepare_amend(args: &AmendArgs) -> anyhow::Result<Prepared> {
    anyhow::ensure!(
        args.price.is_some() || args.qty.is_some(),
        "nothing to change: pass --price and/or --qty"
    );
    let client = client(&args.node)?;
    let key = signer(&args.key)?;
    // What is not changed is read from the order as the node sees it now.
    let current = if args.price.is_none() || args.qty.is_none() {
        Some(
            client
                .order(args.order_id)
                .await
                .with_context(|| format!("looking up order {}", args.order_id))?,
        )
    } else {
        None
    };
    let named = args
        .market
        .clone()
        .or_else(|| current.as_ref().map(|o| o.market.to_string()));
    let (market, params) = tokio::try_join!(
        market_of(&client, named.as_deref(), args.order_id),
        tx_params(&client, &key, &args.tx)
    )?;
    let units = MarketUnits::new(&market);
    let price = match (&args.price, &current) {
        (Some(text), _) => units.price_atoms(text)?,
        (None, Some(order)) => order.price,
        (None, None) => unreachable!("looked up when a field is missing"),
    };
    let qty = match (&args.qty, &current) {
        (Some(text), _) => units.qty_atoms(text)?,
        (None, Some(order)) => order.qty_remaining,
        (None, None) => unreachable!("looked up when a field is missing"),
    };
    let signed = amend_transaction(&key, params, market.id, args.order_id, price, qty);
    let summary = format!(
        "amend order {} on {} to {} {} @ {} {}",
        args.order_id,
        market.symbol,
        units.format_qty(qty),
        units.market.base.symbol,
        units.format_price(price),
        units.market.quote.symbol
    );
    Ok(prepared(&signed, !args.no_wait, summary, &market))
}

async fn send(node: &super::ClientArgs, prepared: Prepared) -> anyhow::Result<()> {
    let client = client(node)?;
    let response = client.send(&prepared.request, prepared.wait).await?;
    show_response(node, &prepared.catalog, &prepared.summary, &response)
}

/// Prints a submission's answer; a refusal by the chain becomes the command's error.
fn show_response(
    node: &super::ClientArgs,
    catalog: &Catalog,
    summary: &str,
    response: &SubmitResponse,
) -> anyhow::Result<()> {
    if node.json {
        print_json(response)?;
    } else {
        out!("{summary}");
        if response.duplicate {
            out!("  (the node already had this exact transaction)");
        }
        match &response.receipt {
            Some(receipt) => print_lines(&receipt_lines(catalog, receipt)),
            None => out!(
                "tx {} pending: queued, not in a block yet (check with `clobchain tx {}`)",
                response.hash,
                response.hash
            ),
        }
    }
    match response.receipt.as_deref().and_then(refusal) {
        Some(code) => Err(Refused::new(code).into()),
        None => Ok(()),
    }
}

fn print_signed(node: &super::ClientArgs, prepared: &Prepared) -> anyhow::Result<()> {
    let client = client(node)?;
    let method = prepared.request.method();
    let path = prepared.request.path(prepared.wait);
    let url = client.url_for(&path);
    let body = prepared.request.body();
    if node.json {
        return print_json(&serde_json::json!({
            "method": method,
            "path": path,
            "url": url,
            "body": body,
            "hash": prepared.hash,
        }));
    }
    eprintln!(
        "signed {} (nonce {}, tx {}); not sent. To send it:\n  \
         {method} {path}\n  curl -X {method} -H 'content-type: application/json' --data @BODY.json '{url}'\n\
         body:",
        prepared.summary, prepared.nonce, prepared.hash
    );
    print_json(&body)
}

async fn orders(args: &OrdersArgs) -> anyhow::Result<()> {
    let client = client(&args.node)?;
    let account = account_of(args.account.as_deref(), &args.key)?;
    let (orders, markets) = tokio::try_join!(client.orders(&account), client.markets())?;
    if args.node.json {
        return print_json(&orders);
    }
    let catalog = Catalog::new(&markets);
    if orders.is_empty() {
        out!("no open orders for {}", hex::encode(account));
    }
    for order in &orders {
        out!("{}", order_line(&catalog, order));
    }
    Ok(())
}

async fn order(args: &OrderArgs) -> anyhow::Result<()> {
    let client = client(&args.node)?;
    let (order, markets) = tokio::try_join!(client.order(args.order_id), client.markets())?;
    if args.node.json {
        return print_json(&order);
    }
    out!("{}", order_line(&Catalog::new(&markets), &order));
    Ok(())
}

async fn transaction(args: &TxArgs) -> anyhow::Result<()> {
    let client = client(&args.node)?;
    let (status, markets) = tokio::try_join!(client.transaction(&args.hash), client.markets())?;
    if args.node.json {
        return print_json(&status);
    }
    print_lines(&receipt_lines(&Catalog::new(&markets), &status));
    Ok(())
}

async fn book(args: &BookArgs) -> anyhow::Result<()> {
    let client = client(&args.node)?;
    let (market, book) = tokio::try_join!(
        client.market(&args.market),
        client.book(&args.market, Some(args.depth))
    )?;
    if args.node.json {
        return print_json(&book);
    }
    print_lines(&book_lines(&MarketUnits::new(&market), &book));
    Ok(())
}

async fn trades(args: &TradesArgs) -> anyhow::Result<()> {
    let client = client(&args.node)?;
    let (market, trades) = tokio::try_join!(
        client.market(&args.market),
        client.trades(&args.market, Some(args.limit), None)
    )?;
    if args.node.json {
        return print_json(&trades);
    }
    let trades = trades.trades;
    let catalog = Catalog::new(std::slice::from_ref(&market));
    if trades.is_empty() {
        out!("no trades on {} yet", market.symbol);
    }
    for fill in &trades {
        out!("block {} {}", fill.height, trade_line(&catalog, fill));
    }
    Ok(())
}

async fn list_markets(args: &MarketsArgs) -> anyhow::Result<()> {
    let markets = client(&args.node)?.markets().await?;
    if args.node.json {
        return print_json(&markets);
    }
    print_lines(&market_lines(&markets));
    Ok(())
}

async fn watch_account(args: &WatchArgs) -> anyhow::Result<()> {
    let client = client(&args.node)?;
    let account = account_of(args.account.as_deref(), &args.key)?;
    let markets = client.markets().await?;
    let market = match &args.market {
        Some(name) => Some(client.market(name).await?),
        None => None,
    };
    if !args.node.json {
        let current: AccountJson = client.account(&account).await?;
        eprintln!(
            "watching {}{} from {} (Ctrl-C stops)",
            hex::encode(account),
            market
                .as_ref()
                .map_or_else(String::new, |m| format!(" and {} trades", m.symbol)),
            args.from_height.map_or_else(
                || format!("after block {}", current.height),
                |h| format!("block {h}")
            )
        );
    }
    let options = WatchOptions {
        account,
        market: market.map(|m| m.id),
        from_height: args.from_height,
        json: args.node.json,
    };
    watch(&client, &Catalog::new(&markets), &options).await
}
