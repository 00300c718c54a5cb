use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Entity {
    id: u64,
}

#[derive(KafkaMessage)]
struct Envelope<T> {
    #[kafka(base)]
    entity: Entity,
    body: T,
}

fn main() {}
