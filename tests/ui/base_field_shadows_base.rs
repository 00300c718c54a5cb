use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, KafkaMessage)]
struct Entity {
    id: u64,
}

#[derive(KafkaMessage)]
struct Person {
    #[kafka(base)]
    entity: Entity,
    name: String,
}

#[derive(KafkaMessage)]
struct Employee {
    #[kafka(base)]
    person: Person,
    salary: u64,
    id: String,
}

fn main() {}
