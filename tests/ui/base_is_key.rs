use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Entity {
    id: u64,
}

#[derive(KafkaMessage)]
struct Order {
    #[kafka(base, key)]
    entity: Entity,
    total: u64,
}

fn main() {}
