//! The OpenAPI schemas the derive cannot infer from a field's Rust type: u64s carried
//! as decimal strings, and the [`ActionJson`](super::ActionJson) and
//! [`ApiCode`](super::ApiCode) schemas, which are written by hand because their serde
//! shapes (a tagged enum with one untagged variant; a string enum from a table) are
//! beyond the derive. Integer ranges are filled in from each integer's format by
//! `crate::openapi`, so every integer's bounds are its Rust type's.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, Type,
};
use utoipa::openapi::{KnownFormat, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::{ActionJson, ApiCode, OrderActionJson, PlaceJson, TimeInForceJson, TransactionJson};

/// A u64 as a decimal string: digits only (no sign), at most 20 of them. The
/// attributes write this short form; the served document has the exact one
/// ([`decimal_pattern`]), which also bounds the value.
pub const U64_TEXT_PATTERN: &str = "^[0-9]+$";
/// The most digits of a u64 (`18446744073709551615`).
pub const U64_TEXT_LENGTH_MAX: usize = 20;
/// A 32-byte key or hash as the server reads it: either case, optional `0x`.
pub const HEX32_IN_PATTERN: &str = "^(0x)?[0-9a-fA-F]{64}$";
/// A 32-byte key or hash as the server writes it.
pub const HEX32_OUT_PATTERN: &str = "^[0-9a-f]{64}$";
/// The fills cursor: `height:market:seq` of the last fill of the previous page. Short
/// form, as for [`U64_TEXT_PATTERN`]; the document has [`cursor_pattern`].
pub const CURSOR_PATTERN: &str = "^[0-9]{1,20}:[0-9]{1,10}:[0-9]{1,20}$";

/// An unanchored regular expression for exactly the decimal strings of at most
/// `max`'s digit count whose value is at most `max` (leading zeros allowed, as
/// `rest::parse_decimal` takes them): shorter strings, then for each digit of `max` the
/// strings that agree on the digits before it and are smaller there, then `max`.
pub fn decimal_pattern(max: u64) -> String {
    let digits = max.to_string();
    let n = digits.len();
    let mut alternatives = Vec::new();
    if n > 1 {
        alternatives.push(format!("[0-9]{{1,{}}}", n - 1));
    }
    for (i, d) in digits.bytes().enumerate() {
        if d > b'0' {
            let rest = n - i - 1;
            let tail = if rest > 0 {
                format!("[0-9]{{{rest}}}")
            } else {
                String::new()
            };
            alternatives.push(format!("{}[0-{}]{tail}", &digits[..i], char::from(d - 1)));
        }
    }
    alternatives.push(digits);
    format!("({})", alternatives.join("|"))
}

/// The exact pattern of a u64 as text.
pub fn u64_pattern() -> String {
    format!("^{}$", decimal_pattern(u64::MAX))
}

/// The exact pattern of the fills cursor (`height:market:seq`: u64, u32, u64).
pub fn cursor_pattern() -> String {
    let u64 = decimal_pattern(u64::MAX);
    format!("^{u64}:{}:{u64}$", decimal_pattern(u64::from(u32::MAX)))
}
/// A signed transaction's borsh bytes as hex (`tx`): 1 to 4,096 whole bytes (the
/// transaction size limit, so that a `tx` the schema allows is never `TOO_LARGE`), either
/// case, optional `0x`.
pub const TX_HEX_PATTERN: &str = "^(0x)?([0-9a-fA-F]{2}){1,4096}$";
/// The longest `tx`: the transaction size limit in hex, and a `0x`.
pub const TX_HEX_LENGTH_MAX: usize = 2 * markets::limits::TRANSACTION_BYTES_MAX + 2;

fn u64_text() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(u64_pattern()))
        .min_length(Some(1))
        .max_length(Some(U64_TEXT_LENGTH_MAX))
}

fn u64_number() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::UInt64)))
}

/// A u64 the server writes as a decimal string (order ids).
pub fn u64_text_out() -> Schema {
    u64_text()
        .description(Some("A u64 as a decimal string."))
        .into()
}

/// A u64 a client sends: a decimal string or a number.
pub fn u64_text_in() -> Schema {
    OneOfBuilder::new()
        .item(u64_text())
        .item(u64_number())
        .description(Some("A u64: a decimal string or a number."))
        .into()
}

/// An optional u64 a client sends: a decimal string, a number or null.
pub fn opt_u64_text_in() -> Schema {
    OneOfBuilder::new()
        .item(u64_text())
        .item(u64_number())
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some("A u64: a decimal string or a number (or null)."))
        .into()
}

/// Book levels: `[price, qty]` pairs (quote atoms per lot, base atoms).
pub fn levels() -> Schema {
    ArrayBuilder::new()
        .items(
            ArrayBuilder::new()
                .items(u64_number())
                .min_items(Some(2))
                .max_items(Some(2)),
        )
        .description(Some("`[price, qty]` pairs, best first."))
        .into()
}

fn reject_names() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(markets::Reject::all().into_iter().map(|r| r.name())))
}

/// A chain reject's name, as receipts and events carry it (no HTTP status there).
pub fn reject_name() -> Schema {
    reject_names()
        .description(Some(
            "A chain reject's catalogue name (see `x-error-codes`).",
        ))
        .into()
}

/// An optional chain reject name (absent when there is none).
pub fn opt_reject_name() -> Schema {
    reject_name()
}

/// Why an order left the book unfilled.
pub fn cancel_reason() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            [
                matching::CancelReason::Requested,
                matching::CancelReason::CancelAll,
                matching::CancelReason::SelfTrade,
                matching::CancelReason::ImmediateOrCancel,
                matching::CancelReason::FillOrKill,
            ]
            .map(crate::feed::cancel_reason),
        ))
        .into()
}

/// `GET /v1/health` says `ok` whenever it answers.
pub fn health_status() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["ok"]))
        .into()
}

fn tagged(tag: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([tag])),
        )
        .required("type")
}

fn uint(format: KnownFormat) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(format)))
}

/// `{"type": "batch", "actions": [1 to 32 order actions]}`.
fn batch() -> ObjectBuilder {
    tagged("batch")
        .property(
            "actions",
            ArrayBuilder::new()
                .items(Ref::from_schema_name(OrderActionJson::name()))
                .min_items(Some(1))
                .max_items(Some(markets::limits::BATCH_ACTIONS_MAX)),
        )
        .required("actions")
}

impl PartialSchema for ActionJson {
    fn schema() -> RefOr<Schema> {
        let order = Ref::from_schema_name(OrderActionJson::name());
        OneOfBuilder::new()
            .item(batch())
            .item(
                tagged("transfer")
                    .property(
                        "to",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(HEX32_IN_PATTERN)),
                    )
                    .property("asset", uint(KnownFormat::UInt32))
                    .property("amount", uint(KnownFormat::UInt64))
                    .required("to")
                    .required("asset")
                    .required("amount"),
            )
            .item(
                tagged("faucet")
                    .property("asset", uint(KnownFormat::UInt32))
                    .property("amount", uint(KnownFormat::UInt64))
                    .required("asset")
                    .required("amount"),
            )
            .item(order)
            .description(Some(
                "What a transaction does, tagged by `type`: an order action (`place`, \
                 `cancel`, `cancel_all`, `amend`), `batch` (1 to 32 order actions), \
                 `transfer` or `faucet`.",
            ))
            .into()
    }
}

impl ToSchema for ActionJson {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ActionJson")
    }
}

/// The body of `POST /v1/orders`: a [`TransactionJson`] whose action is a `place` or a
/// `batch` (the route refuses others with `WRONG_ACTION`). A schema only: the handler
/// reads a `TransactionJson` and checks the action.
#[derive(Debug)]
pub struct OrderTransactionJson;

impl PartialSchema for OrderTransactionJson {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut object)) = TransactionJson::schema() else {
            panic!("TransactionJson's schema is an object")
        };
        let place = AllOfBuilder::new()
            .item(Ref::from_schema_name(PlaceJson::name()))
            .item(tagged("place"));
        object.properties.insert(
            "action".into(),
            OneOfBuilder::new().item(place).item(batch()).into(),
        );
        object.description = Some(
            "A signed transaction whose action is one `place` or a `batch` of order actions."
                .into(),
        );
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for OrderTransactionJson {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OrderTransactionJson")
    }
}

/// `"gtc"`, `"ioc"`, `"fok"` or `{"gtb": last_block}`. Written by hand because serde
/// reads the object form as an externally tagged variant: exactly one key, so the
/// schema must forbid others (`additionalProperties: false`), which the derive does not
/// say.
impl PartialSchema for TimeInForceJson {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["gtc", "ioc", "fok"])),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("gtb", u64_number())
                    .required("gtb")
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            )
            .description(Some(
                "Good till cancel (the default), immediate or cancel, fill or kill, or good \
                 till block `gtb` (the last height at which the order may rest).",
            ))
            .into()
    }
}

impl ToSchema for TimeInForceJson {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TimeInForceJson")
    }
}

impl PartialSchema for ApiCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ApiCode::ALL.iter().map(|c| c.as_str())))
            .description(Some(
                "Stable, machine-readable: branch on it. Each code's meaning and HTTP \
                 status are in `x-error-codes` and docs/API.md.",
            ))
            .into()
    }
}

impl ToSchema for ApiCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ApiCode")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decimal_pattern_bounds_the_value() {
        assert_eq!(
            decimal_pattern(205),
            "([0-9]{1,2}|[0-1][0-9]{2}|20[0-4]|205)"
        );
        assert_eq!(decimal_pattern(9), "([0-8]|9)");
        assert_eq!(decimal_pattern(10), "([0-9]{1,1}|[0-0][0-9]{1}|10)");
        assert!(u64_pattern().ends_with("|18446744073709551615)$"));
    }
}
