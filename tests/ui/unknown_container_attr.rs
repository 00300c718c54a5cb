use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(topics = "orders")]
struct Order {
    id: u64,
}

fn main() {}
