use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Entity {
    id: u64,
}

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Audited {
    created_by: String,
}

#[derive(KafkaMessage)]
struct Order {
    #[kafka(base)]
    entity: Entity,
    #[kafka(base)]
    audit: Audited,
    total: u64,
}

fn main() {}
