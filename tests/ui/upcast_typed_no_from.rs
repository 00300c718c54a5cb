use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

// The old type must convert into the next version.
#[derive(Deserialize)]
struct V1 {
    name: String,
}

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 2, upcast(from = 1, typed = V1))]
struct User {
    name: String,
}

fn main() {}
