use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(name = "")]
struct Order {
    id: u64,
}

fn main() {}
