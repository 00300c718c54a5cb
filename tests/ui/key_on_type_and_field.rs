use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(key = "customer")]
struct Order {
    #[kafka(key)]
    id: u64,
    customer: String,
}

fn main() {}
