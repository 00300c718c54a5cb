use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Entity {
    id: u64,
}

#[derive(KafkaMessage)]
struct Order {
    #[kafka(base)]
    entity: Entity,
    #[serde(rename = 5)]
    total: u64,
}

fn main() {}
