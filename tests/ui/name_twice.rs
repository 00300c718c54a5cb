use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(name = "Order")]
#[kafka(name = "OrderV2")]
struct Order {
    id: u64,
}

fn main() {}
