use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Order {
    #[kafka(key)]
    id: u64,
    #[kafka(key)]
    customer: String,
}

fn main() {}
