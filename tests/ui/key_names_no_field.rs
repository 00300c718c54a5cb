use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(key = "nope")]
struct Order {
    id: u64,
    customer: String,
}

fn main() {}
