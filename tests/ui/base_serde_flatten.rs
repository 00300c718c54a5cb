use std::collections::BTreeMap;

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
    #[serde(flatten)]
    extra: BTreeMap<String, String>,
}

fn main() {}
