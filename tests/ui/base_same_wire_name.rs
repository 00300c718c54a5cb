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
    total: u64,
    #[kafka(rename = "total")]
    total_cents: u64,
}

fn main() {}
