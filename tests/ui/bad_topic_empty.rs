use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(topic = "")]
struct Order {
    id: u64,
}

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(topic = "..")]
struct Refund {
    id: u64,
}

fn main() {}
