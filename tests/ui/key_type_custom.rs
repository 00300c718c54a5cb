use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct CustomerId {
    region: u16,
    number: u64,
}

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(key = "customer")]
struct Order {
    id: u64,
    customer: CustomerId,
}

fn main() {}
