use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Entity {
    id: u64,
}

#[derive(KafkaMessage)]
struct Order(#[kafka(base)] Entity, u64);

fn main() {}
