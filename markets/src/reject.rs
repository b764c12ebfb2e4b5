//! The chain's reject catalogue. One number per reason, never renumbered or reused;
//! recorded in receipts and returned by the API.
//!
//! | group | meaning |
//! |---|---|
//! | 1xx | the transaction or order is malformed, whatever the state (the book's 101–107 included) |
//! | 2xx | funds |
//! | 3xx | the book's state (the book's 301–307) |
//! | 4xx | authentication and replay |
//!
//! A transaction is checked in this order (the first failure names it):
//! `WRONG_CHAIN` → `UNKNOWN_ACCOUNT` → `BAD_SIGNATURE` → structure (`EMPTY_BATCH`,
//! `BATCH_TOO_LARGE`) → `TRANSACTION_EXPIRED` → nonce (`NONCE_ALREADY_USED`,
//! `NONCE_TOO_OLD`) → each action in turn (see [`crate::execute`]).

use core::fmt;

/// A reason the chain refused a transaction or one of its actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reject {
    /// A reason given by the order book (1xx validation, 3xx book state).
    Book(matching::RejectCode),
    /// A reason given by the chain.
    Chain(ChainReject),
}

/// Reasons only the chain gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
#[repr(u16)]
pub enum ChainReject {
    #[error("the bytes are not a transaction")]
    Malformed = 110,
    #[error("the transaction is larger than the limit")]
    TooLarge = 111,
    #[error("a batch must hold at least one action")]
    EmptyBatch = 112,
    #[error("a batch holds more actions than the limit")]
    BatchTooLarge = 113,
    #[error("no market with this id")]
    UnknownMarket = 114,
    #[error("no asset with this id")]
    UnknownAsset = 115,
    #[error("the amount must be positive")]
    ZeroAmount = 116,
    #[error("an account cannot transfer to itself")]
    SelfTransfer = 117,
    #[error("the key is not a valid ed25519 public key (or is of small order)")]
    InvalidAccountKey = 118,
    #[error("this chain has no faucet")]
    FaucetDisabled = 119,
    #[error("the faucet gives at most its limit per request")]
    FaucetLimit = 120,

    #[error("available balance is too small")]
    InsufficientFunds = 201,
    #[error("the asset's total supply would overflow")]
    SupplyOverflow = 202,

    #[error("the signature does not verify")]
    BadSignature = 401,
    #[error("the transaction was signed for another chain")]
    WrongChain = 402,
    #[error("this nonce was already used by the account")]
    NonceAlreadyUsed = 403,
    #[error("the nonce is older than the account's replay window")]
    NonceTooOld = 404,
    #[error("the transaction's expiry height has passed")]
    TransactionExpired = 405,
    #[error("the signer has no account (fund it first)")]
    UnknownAccount = 406,
}

impl ChainReject {
    pub const ALL: [ChainReject; 19] = [
        ChainReject::Malformed,
        ChainReject::TooLarge,
        ChainReject::EmptyBatch,
        ChainReject::BatchTooLarge,
        ChainReject::UnknownMarket,
        ChainReject::UnknownAsset,
        ChainReject::ZeroAmount,
        ChainReject::SelfTransfer,
        ChainReject::InvalidAccountKey,
        ChainReject::FaucetDisabled,
        ChainReject::FaucetLimit,
        ChainReject::InsufficientFunds,
        ChainReject::SupplyOverflow,
        ChainReject::BadSignature,
        ChainReject::WrongChain,
        ChainReject::NonceAlreadyUsed,
        ChainReject::NonceTooOld,
        ChainReject::TransactionExpired,
        ChainReject::UnknownAccount,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            ChainReject::Malformed => "MALFORMED",
            ChainReject::TooLarge => "TOO_LARGE",
            ChainReject::EmptyBatch => "EMPTY_BATCH",
            ChainReject::BatchTooLarge => "BATCH_TOO_LARGE",
            ChainReject::UnknownMarket => "UNKNOWN_MARKET",
            ChainReject::UnknownAsset => "UNKNOWN_ASSET",
            ChainReject::ZeroAmount => "ZERO_AMOUNT",
            ChainReject::SelfTransfer => "SELF_TRANSFER",
            ChainReject::InvalidAccountKey => "INVALID_ACCOUNT_KEY",
            ChainReject::FaucetDisabled => "FAUCET_DISABLED",
            ChainReject::FaucetLimit => "FAUCET_LIMIT",
            ChainReject::InsufficientFunds => "INSUFFICIENT_FUNDS",
            ChainReject::SupplyOverflow => "SUPPLY_OVERFLOW",
            ChainReject::BadSignature => "BAD_SIGNATURE",
            ChainReject::WrongChain => "WRONG_CHAIN",
            ChainReject::NonceAlreadyUsed => "NONCE_ALREADY_USED",
            ChainReject::NonceTooOld => "NONCE_TOO_OLD",
            ChainReject::TransactionExpired => "TRANSACTION_EXPIRED",
            ChainReject::UnknownAccount => "UNKNOWN_ACCOUNT",
        }
    }
}

impl Reject {
    /// The stable number.
    pub const fn code(self) -> u16 {
        match self {
            Reject::Book(code) => code.code(),
            Reject::Chain(code) => code as u16,
        }
    }

    /// The stable machine-readable name, e.g. `INSUFFICIENT_FUNDS`.
    pub const fn name(self) -> &'static str {
        match self {
            Reject::Book(code) => code.name(),
            Reject::Chain(code) => code.name(),
        }
    }

    /// The reject with this number, if any.
    pub fn from_code(code: u16) -> Option<Reject> {
        if let Some(book) = matching::RejectCode::from_code(code) {
            return Some(Reject::Book(book));
        }
        ChainReject::ALL
            .iter()
            .copied()
            .find(|c| *c as u16 == code)
            .map(Reject::Chain)
    }

    /// Every reject the chain can record, book codes included.
    pub fn all() -> Vec<Reject> {
        let mut all: Vec<Reject> = matching::RejectCode::ALL
            .iter()
            .map(|&c| Reject::Book(c))
            .collect();
        all.extend(ChainReject::ALL.iter().map(|&c| Reject::Chain(c)));
        all.sort_by_key(|r| r.code());
        all
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::Book(code) => write!(f, "{} ({}): {code}", self.name(), self.code()),
            Reject::Chain(code) => write!(f, "{} ({}): {code}", self.name(), self.code()),
        }
    }
}

impl From<matching::RejectCode> for Reject {
    fn from(code: matching::RejectCode) -> Reject {
        Reject::Book(code)
    }
}

impl From<ChainReject> for Reject {
    fn from(code: ChainReject) -> Reject {
        Reject::Chain(code)
    }
}

impl borsh::BorshSerialize for Reject {
    fn serialize<W: borsh::io::Write>(&self, writer: &mut W) -> borsh::io::Result<()> {
        self.code().serialize(writer)
    }
}

impl borsh::BorshDeserialize for Reject {
    fn deserialize_reader<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<Self> {
        let code = u16::deserialize_reader(reader)?;
        Reject::from_code(code).ok_or_else(|| {
            borsh::io::Error::new(borsh::io::ErrorKind::InvalidData, "unknown reject code")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_unique_and_round_trips() {
        let all = Reject::all();
        for pair in all.windows(2) {
            assert!(
                pair[0].code() < pair[1].code(),
                "{:?} / {:?}",
                pair[0],
                pair[1]
            );
        }
        for reject in all {
            assert_eq!(Reject::from_code(reject.code()), Some(reject));
            let bytes = borsh::to_vec(&reject).unwrap();
            assert_eq!(borsh::from_slice::<Reject>(&bytes).unwrap(), reject);
        }
    }
}
