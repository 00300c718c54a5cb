use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

fn step(v: serde_json::Value) -> Result<serde_json::Value, String> {
    Ok(v)
}

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 5)]
#[kafka(upcast(from = 1, value = step))]
#[kafka(upcast(from = 3, value = step))]
#[kafka(upcast(from = 4, value = step))]
struct User {
    name: String,
}

fn main() {}
