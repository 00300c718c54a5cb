use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Entity {
    id: u64,
}

#[derive(KafkaMessage)]
#[serde(rename_all = "camelCase")]
struct Order {
    #[kafka(base)]
    entity: Entity,
    total_cents: u64,
}

fn main() {}
