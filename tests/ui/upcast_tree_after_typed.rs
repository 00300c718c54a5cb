use kafka_codec::KafkaMessage;
use serde::{Deserialize, Serialize};

fn step(v: serde_json::Value) -> Result<serde_json::Value, String> {
    Ok(v)
}

#[derive(Deserialize)]
struct V1 {
    name: String,
}

#[derive(Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 3)]
#[kafka(upcast(from = 1, typed = V1))]
#[kafka(upcast(from = 2, value = step))]
struct User {
    name: String,
}

fn main() {}
