//! Helpers shared by the integration test modules.

use matching::{ClientOrderId, Height, NewOrder, SelfTradePrevention, TimeInForce};

/// Builder-style options on a new order, so a test line reads like the order it sends.
pub trait OrderOptions {
    fn ioc(self) -> Self;
    fn fok(self) -> Self;
    fn good_till_block(self, last_block: u64) -> Self;
    fn post_only(self) -> Self;
    fn self_trade(self, mode: SelfTradePrevention) -> Self;
    fn client_id(self, client_order_id: u64) -> Self;
}

impl OrderOptions for NewOrder {
    fn ioc(self) -> Self {
        NewOrder {
            time_in_force: TimeInForce::ImmediateOrCancel,
            ..self
        }
    }
    fn fok(self) -> Self {
        NewOrder {
            time_in_force: TimeInForce::FillOrKill,
            ..self
        }
    }
    fn good_till_block(self, last_block: u64) -> Self {
        NewOrder {
            time_in_force: TimeInForce::GoodTillBlock(Height(last_block)),
            ..self
        }
    }
    fn post_only(self) -> Self {
        NewOrder {
            post_only: true,
            ..self
        }
    }
    fn self_trade(self, mode: SelfTradePrevention) -> Self {
        NewOrder {
            self_trade: mode,
            ..self
        }
    }
    fn client_id(self, client_order_id: u64) -> Self {
        NewOrder {
            client_order_id: Some(ClientOrderId(client_order_id)),
            ..self
        }
    }
}
