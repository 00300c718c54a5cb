use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Order {
    #[kafka(key)]
    tags: Vec<String>,
}

fn main() {}
