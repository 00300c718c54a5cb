use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 5000000000)]
struct Order {
    id: u64,
}

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(version = "2")]
struct Refund {
    id: u64,
}

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(version = -1)]
struct Return {
    id: u64,
}

fn main() {}
