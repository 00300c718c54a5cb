use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Entity {
    id: u64,
}

#[derive(KafkaMessage)]
struct Order {
    #[kafka(base)]
    entity: Entity,
    total: u64,
}

fn main() {}
